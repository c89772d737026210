package netimpl

import "errors"

// Undo is the list of undo steps of a multi-step operation: each step that
// succeeded adds the one that reverses it, and when a later step fails Run
// reverses them all, last first, so that a failure leaves nothing behind.
type Undo struct{ steps []func() error }

// Add records the reversal of a step that has just succeeded.
func (u *Undo) Add(step func() error) { u.steps = append(u.steps, step) }

// Run reverses the recorded steps, last first, and forgets them; it
// returns every failure.
func (u *Undo) Run() error {
	var errs []error
	for i := len(u.steps) - 1; i >= 0; i-- {
		errs = append(errs, u.steps[i]())
	}
	u.steps = nil
	return errors.Join(errs...)
}
