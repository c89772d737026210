// Package undo keeps the steps that reverse a multi-step operation done so
// far, so that a later step's failure leaves nothing behind: each step
// that changed something records how to take it back, and on failure they
// run last first, the way the changes were stacked.
//
//	func make() (err error) {
//		var u undo.Steps
//		defer u.OnError(&err)
//		if err := createA(); err != nil {
//			return err
//		}
//		u.Add(deleteA)
//		...
//	}
package undo

// Steps are the undo steps of the operation so far. The zero value is
// ready.
type Steps struct{ fns []func() }

// Add records how to undo the step just done.
func (s *Steps) Add(fn func()) { s.fns = append(s.fns, fn) }

// Run undoes every recorded step, last first, and forgets them.
func (s *Steps) Run() {
	for i := len(s.fns) - 1; i >= 0; i-- {
		s.fns[i]()
	}
	s.fns = nil
}

// OnError runs the steps when *err is set; deferred with the function's
// named error result, it undoes whatever a failed operation did.
func (s *Steps) OnError(err *error) {
	if *err != nil {
		s.Run()
	}
}
