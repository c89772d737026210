package image

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Error kinds: hostd answers them with Docker's status codes (404, 409,
// 400); the message is Docker's text.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid parameter")
)

// Error is an error of one of the kinds above with Docker's message.
type Error struct {
	kind error
	msg  string
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.kind }

func newError(kind error, format string, a ...any) error {
	return &Error{kind: kind, msg: fmt.Sprintf(format, a...)}
}

// Docker's registry and the prefix of its official images.
const (
	defaultDomain   = "docker.io"
	legacyDomain    = "index.docker.io"
	officialPrefix  = "library/"
	maxNameLength   = 255
	maxTagLength    = 128
	digestAlgorithm = "sha256"
)

// Ref is an image reference as Docker's reference package reads it:
// "alpine" is docker.io/library/alpine, "registry:5000/team/app:1" keeps
// its registry. It is the grammar of Docker 20.10's
// github.com/docker/distribution/reference, written without regular
// expressions: a hostd holds no compiled grammar for a reference it
// parses a few times a minute.
type Ref struct {
	Domain string // "docker.io" for Docker Hub
	Path   string // "library/alpine"
	Tag    string // "" when none
	Digest string // "sha256:<hex>", "" when none
}

// IsID reports whether the reference is an image ID (a digest with no
// name).
func (r Ref) IsID() bool { return r.Path == "" }

// Name is the full repository name: "docker.io/library/alpine".
func (r Ref) Name() string {
	if r.Domain == "" {
		return r.Path
	}
	return r.Domain + "/" + r.Path
}

// String is the full reference: "docker.io/library/alpine:latest".
func (r Ref) String() string {
	if r.IsID() {
		return r.Digest
	}
	return r.Name() + r.suffix()
}

func (r Ref) suffix() string {
	s := ""
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// FamiliarName is the name as Docker prints it: "alpine", "team/app",
// "registry:5000/app".
func (r Ref) FamiliarName() string {
	if r.Domain != defaultDomain {
		return r.Name()
	}
	if rest, ok := strings.CutPrefix(r.Path, officialPrefix); ok && !strings.Contains(rest, "/") {
		return rest
	}
	return r.Path
}

// Familiar is the reference as Docker prints it: "alpine:latest".
func (r Ref) Familiar() string {
	if r.IsID() {
		return r.Digest
	}
	return r.FamiliarName() + r.suffix()
}

// WithDefaultTag is the reference with ":latest" when it has neither a
// tag nor a digest (Docker's TagNameOnly).
func (r Ref) WithDefaultTag() Ref {
	if !r.IsID() && r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r
}

// NameOnly reports whether the reference is a bare name, no tag, no digest.
func (r Ref) NameOnly() bool { return !r.IsID() && r.Tag == "" && r.Digest == "" }

// ParseNamed is Docker 20.10's reference.ParseNormalizedNamed: "alpine" is
// docker.io/library/alpine. Its errors are of kind ErrInvalid, in Docker's
// words.
func ParseNamed(s string) (Ref, error) {
	if isHex(s, 64) {
		return Ref{}, newError(ErrInvalid, "invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s)
	}
	domain, rest := splitDomain(s)
	remote := rest
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		remote = rest[:i]
	}
	if strings.ToLower(remote) != remote {
		return Ref{}, newError(ErrInvalid, "invalid reference format: repository name must be lowercase")
	}
	return parse(domain, rest)
}

// splitDomain cuts a familiar reference into its registry and the rest, as
// Docker's splitDockerDomain: the first component is a registry when it
// holds a "." or a ":" or is localhost.
func splitDomain(s string) (domain, rest string) {
	i := strings.IndexByte(s, '/')
	if i < 0 || (!strings.ContainsAny(s[:i], ".:") && s[:i] != "localhost") {
		domain, rest = defaultDomain, s
	} else {
		domain, rest = s[:i], s[i+1:]
	}
	if domain == legacyDomain {
		domain = defaultDomain
	}
	if domain == defaultDomain && !strings.Contains(rest, "/") {
		rest = officialPrefix + rest
	}
	return domain, rest
}

// parse reads "[registry/]path[:tag][@digest]" as Docker's grammar does:
// a first component that is no valid registry name makes the whole name a
// path, with no registry ("re_g.io/app").
func parse(domain, rest string) (Ref, error) {
	var r Ref
	name := domain + "/" + rest
	if i := strings.IndexByte(name, '@'); i >= 0 {
		r.Digest, name = name[i+1:], name[:i]
		if err := checkDigest(r.Digest); err != nil {
			return Ref{}, err
		}
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		r.Tag, name = name[i+1:], name[:i]
		if !validTag(r.Tag) {
			return Ref{}, errInvalidFormat()
		}
	}
	switch d, p, _ := strings.Cut(name, "/"); {
	case validDomain(d) && validPath(p):
		r.Domain, r.Path = d, p
	case validPath(name):
		r.Path = name
	default:
		return Ref{}, errInvalidFormat()
	}
	if len(r.Path) > maxNameLength {
		return Ref{}, newError(ErrInvalid, "repository name must not be more than %d characters", maxNameLength)
	}
	return r, nil
}

func errInvalidFormat() error { return newError(ErrInvalid, "invalid reference format") }

// ParseAny is Docker's reference.ParseAnyReference: 64 hex digits, with or
// without "sha256:", are an image ID; anything else a name.
func ParseAny(s string) (Ref, error) {
	if isHex(s, 64) {
		return Ref{Digest: digestAlgorithm + ":" + s}, nil
	}
	if h, ok := strings.CutPrefix(s, digestAlgorithm+":"); ok && isHex(h, 64) {
		return Ref{Digest: s}, nil
	}
	return ParseNamed(s)
}

// WithTag is the reference with the tag instead of its own tag and
// digest; ErrInvalid "invalid tag format" when the tag is not one.
func WithTag(r Ref, tag string) (Ref, error) {
	if !validTag(tag) {
		return Ref{}, newError(ErrInvalid, "invalid tag format")
	}
	r.Tag, r.Digest = tag, ""
	return r, nil
}

// MatchReference is the "reference" filter of docker images: a pattern
// such as "alp*" or "team/*:1" against a tag or its name, as Docker's
// FamiliarMatch.
func MatchReference(pattern, tag string) (bool, error) {
	r, err := ParseNamed(tag)
	if err != nil {
		return false, err
	}
	ok, err := path.Match(pattern, r.Familiar())
	if !ok {
		ok, _ = path.Match(pattern, r.FamiliarName())
	}
	return ok, err
}

// errNoSuchImage is Docker's ErrImageDoesNotExist: the reference with its
// default tag, in its familiar form.
func errNoSuchImage(r Ref) error {
	return newError(ErrNotFound, "No such image: %s", r.WithDefaultTag().Familiar())
}

// The grammar's pieces.

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func isAlnumLower(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func isWord(c byte) bool { return isAlnumLower(c) || c >= 'A' && c <= 'Z' || c == '_' }

// validTag: [\w][\w.-]{0,127}.
func validTag(t string) bool {
	if t == "" || len(t) > maxTagLength || !isWord(t[0]) {
		return false
	}
	for i := 1; i < len(t); i++ {
		if c := t[i]; !isWord(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// checkDigest is go-digest's check of a digest the grammar accepted: an
// algorithm, then at least 32 hex digits, as many as it makes.
func checkDigest(d string) error {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || !validAlgorithm(alg) || len(hex) < 32 || strings.Trim(hex, "0123456789abcdefABCDEF") != "" {
		return errInvalidFormat()
	}
	size := map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}[alg]
	switch {
	case size == 0:
		return newError(ErrInvalid, "unsupported digest algorithm")
	case len(hex) != size:
		return newError(ErrInvalid, "invalid checksum digest length")
	case !isHex(hex, size):
		return newError(ErrInvalid, "invalid checksum digest format")
	}
	return nil
}

// validAlgorithm: [A-Za-z][A-Za-z0-9]*, joined by "-", "_", "+" or ".".
func validAlgorithm(a string) bool {
	isLetter := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	start := true // a letter must come next
	for i := 0; i < len(a); i++ {
		c := a[i]
		switch {
		case start && !isLetter(c):
			return false
		case strings.IndexByte("-_+.", c) >= 0:
			start = true
			continue
		case !isLetter(c) && !(c >= '0' && c <= '9'):
			return false
		}
		start = false
	}
	return !start
}

// validDomain: components of letters, digits and inner dashes, separated
// by dots, then an optional ":port".
func validDomain(d string) bool {
	host, port, hasPort := strings.Cut(d, ":")
	if hasPort && (port == "" || strings.Trim(port, "0123456789") != "") {
		return false
	}
	for _, c := range strings.Split(host, ".") {
		if c == "" || c[0] == '-' || c[len(c)-1] == '-' {
			return false
		}
		for i := 0; i < len(c); i++ {
			if ch := c[i]; !isAlnumLower(ch) && !(ch >= 'A' && ch <= 'Z') && ch != '-' {
				return false
			}
		}
	}
	return true
}

// validPath: components separated by "/", each lower-case letters and
// digits joined by ".", "_", "__" or dashes.
func validPath(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if c == "" || !isAlnumLower(c[0]) || !isAlnumLower(c[len(c)-1]) {
			return false
		}
		for i := 0; i < len(c); {
			if isAlnumLower(c[i]) {
				i++
				continue
			}
			j := i
			for j < len(c) && !isAlnumLower(c[j]) {
				j++
			}
			if sep := c[i:j]; sep != "." && sep != "_" && sep != "__" && strings.Trim(sep, "-") != "" {
				return false
			}
			i = j
		}
	}
	return true
}
