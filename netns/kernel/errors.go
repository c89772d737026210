package kernel

import "errors"

// ErrNotFound: the namespace holds no such object (link, bridge).
var ErrNotFound = errors.New("not found")
