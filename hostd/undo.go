package hostd

// undoList is the undo steps of an operation that acts in several steps:
// when a later step fails, run undoes the earlier ones, last first; once
// every step succeeded, clear keeps them.
type undoList []func()

func (u *undoList) add(f func()) { *u = append(*u, f) }

func (u *undoList) run() {
	for i := len(*u) - 1; i >= 0; i-- {
		(*u)[i]()
	}
	*u = nil
}

func (u *undoList) clear() { *u = nil }
