package rootfs

import "errors"

// The spec's wire format: a sequence of fields in a fixed order, each a
// length-prefixed string, a count of strings followed by them, or a
// byte. Both ends are this package, in the same binary.

type encoder struct{ b []byte }

func (e *encoder) uint(n uint64) {
	for n >= 0x80 {
		e.b = append(e.b, byte(n)|0x80)
		n >>= 7
	}
	e.b = append(e.b, byte(n))
}

// str writes each string in turn.
func (e *encoder) str(ss ...string) {
	for _, s := range ss {
		e.uint(uint64(len(s)))
		e.b = append(e.b, s...)
	}
}

// strs writes each list in turn: its count, then its strings.
func (e *encoder) strs(ls ...[]string) {
	for _, l := range ls {
		e.uint(uint64(len(l)))
		e.str(l...)
	}
}

// bool writes each flag in turn, a byte each.
func (e *encoder) bool(vs ...bool) {
	for _, v := range vs {
		if v {
			e.b = append(e.b, 1)
		} else {
			e.b = append(e.b, 0)
		}
	}
}

var errShort = errors.New("rootfs: truncated spec")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uint() uint64 {
	var n uint64
	for shift := 0; ; shift += 7 {
		if len(d.b) == 0 || shift > 63 {
			d.err = errShort
			return 0
		}
		c := d.b[0]
		d.b = d.b[1:]
		n |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return n
		}
	}
}

func (d *decoder) str() string {
	n := d.uint()
	if d.err != nil || uint64(len(d.b)) < n {
		d.err = errShort
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strs() []string {
	n := d.uint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errShort
		return nil
	}
	var l []string
	for i := uint64(0); i < n && d.err == nil; i++ {
		l = append(l, d.str())
	}
	return l
}

func (d *decoder) bool() bool { return d.uint() == 1 }

func (p *Process) encode(e *encoder) {
	e.strs(p.Args, p.Env)
	e.str(p.Cwd, p.User)
	e.strs(p.GroupAdd)
	e.uint(p.Caps)
}

func (p *Process) decode(d *decoder) {
	p.Args, p.Env, p.Cwd, p.User = d.strs(), d.strs(), d.str(), d.str()
	p.GroupAdd, p.Caps = d.strs(), d.uint()
}

// Marshal encodes the spec for the init (the fallback start).
func (s *Spec) Marshal() []byte {
	e := &encoder{}
	e.str(s.Root)
	e.strs(s.Layers)
	e.str(s.Upper, s.Work)
	e.bool(s.ReadOnly, s.Privileged)
	e.str(s.Hostname)
	e.uint(uint64(s.ShmSize))
	e.uint(uint64(len(s.Mounts)))
	for _, m := range s.Mounts {
		e.uint(uint64(m.Kind))
		e.str(m.Source, m.Target)
		e.bool(m.ReadOnly)
		e.strs(m.Options)
	}
	e.strs(s.MaskedPaths, s.ReadonlyPaths, s.Sysctls)
	e.bool(s.Tty)
	s.Process.encode(e)
	return e.b
}

// Unmarshal decodes what Marshal encoded.
func (s *Spec) Unmarshal(b []byte) error {
	d := &decoder{b: b}
	s.Root, s.Layers, s.Upper, s.Work = d.str(), d.strs(), d.str(), d.str()
	s.ReadOnly, s.Privileged, s.Hostname = d.bool(), d.bool(), d.str()
	s.ShmSize = int64(d.uint())
	n := d.uint()
	if n > uint64(len(d.b)) {
		return errShort
	}
	s.Mounts = nil
	for i := uint64(0); i < n && d.err == nil; i++ {
		m := Mount{Kind: MountKind(d.uint())}
		m.Source, m.Target, m.ReadOnly, m.Options = d.str(), d.str(), d.bool(), d.strs()
		s.Mounts = append(s.Mounts, m)
	}
	s.MaskedPaths, s.ReadonlyPaths, s.Sysctls = d.strs(), d.strs(), d.strs()
	s.Tty = d.bool()
	s.Process.decode(d)
	if d.err == nil && len(d.b) != 0 {
		return errors.New("rootfs: trailing bytes after the spec")
	}
	return d.err
}

// encode is the error as the init reports it to hostd.
func (e *Error) encode() []byte {
	enc := &encoder{}
	enc.uint(uint64(e.Kind))
	enc.str(e.Msg)
	return enc.b
}

// DecodeError reads what a failed init reported.
func DecodeError(b []byte) *Error {
	d := &decoder{b: b}
	e := &Error{Kind: ErrorKind(d.uint()), Msg: d.str()}
	if d.err != nil {
		return &Error{Kind: ErrSetup, Msg: "container init: unreadable status " + quote(string(b))}
	}
	return e
}
