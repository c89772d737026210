package image

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/distribution/reference"
)

// referenceCorpus is what users type, and what they mistype.
var referenceCorpus = []string{
	"alpine", "alpine:latest", "alpine:3.19", "busybox:1.35.0-glibc", "library/alpine", "docker.io/library/alpine:3",
	"index.docker.io/library/alpine", "docker.io/alpine", "team/app", "team/app:v1", "team/sub/app:v1",
	"registry:5000/app", "registry:5000/team/app:1", "my.registry.example/a/b/c:tag_1", "localhost/app", "localhost:5000/app:dev",
	"127.0.0.1:5000/app", "a", "a-b", "a--b", "a__b", "a___b", "a.b", "a..b", "a_.b", "a-", "-a", "_a", "a/", "/a", "a//b",
	"app:", ":tag", "app:-tag", "app:.tag", "app:_tag", "app:" + strings.Repeat("t", 128), "app:" + strings.Repeat("t", 129),
	"app@sha256:" + strings.Repeat("a", 64), "app:1@sha256:" + strings.Repeat("b", 64), "app@sha256:abc", "app@md5:" + strings.Repeat("a", 32),
	"sha256:" + strings.Repeat("c", 64), strings.Repeat("d", 64), "sha256:abc", "abc123", "reg.io:port/app", "reg.io:/app",
	"-reg.io/app", "reg-.io/app", "re_g.io/app", "a:b/c", "app:tag:tag", "app@", "app:tag@", "", " ", "app name",
	strings.Repeat("a", 256), strings.Repeat("a", 255), "docker.io/" + strings.Repeat("a", 250) + "/b",
}

// TestParseAsDocker checks the parser against Docker's own reference
// library (a newer release than 20.10's, whose two changes are left out:
// the wording of the upper-case error, and an upper-case first component
// taken for a registry) on the corpus and on random strings of the
// characters that matter.
func TestParseAsDocker(t *testing.T) {
	inputs := append([]string{}, referenceCorpus...)
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab0:/._-@sha256c"
	for i := 0; i < 20000; i++ {
		b := make([]byte, 1+rng.IntN(14))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		inputs = append(inputs, string(b))
	}
	for _, s := range inputs {
		if strings.ToLower(s) != s {
			continue
		}
		got, gerr := ParseAny(s)
		want, werr := reference.ParseAnyReference(s)
		if (gerr == nil) != (werr == nil) {
			t.Errorf("%q: ours %v, Docker's %v", s, gerr, werr)
			continue
		}
		if gerr != nil {
			if gerr.Error() != werr.Error() {
				t.Errorf("%q: ours says %q, Docker's %q", s, gerr, werr)
			}
			continue
		}
		if got.String() != want.String() || got.Familiar() != reference.FamiliarString(want) {
			t.Errorf("%q: ours %s (%s), Docker's %s (%s)", s, got, got.Familiar(), want, reference.FamiliarString(want))
		}
		if n, ok := want.(reference.Named); ok {
			if got.FamiliarName() != reference.FamiliarName(n) || got.Domain != reference.Domain(n) || got.NameOnly() != reference.IsNameOnly(n) ||
				got.WithDefaultTag().String() != reference.TagNameOnly(n).String() {
				t.Errorf("%q: ours %+v", s, got)
			}
		}
	}
}

func TestParseUpperCase(t *testing.T) {
	for _, s := range []string{"Alpine", "team/App:1", "Foo/bar", "reg.io/App"} {
		if _, err := ParseNamed(s); err == nil || err.Error() != "invalid reference format: repository name must be lowercase" {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"alpine:LATEST", "REG.io/app"} {
		if _, err := ParseNamed(s); err != nil {
			t.Errorf("%q: %v (tags and registries may hold capitals)", s, err)
		}
	}
}

func TestMatchReference(t *testing.T) {
	for _, c := range []struct {
		pattern, tag string
		want         bool
	}{
		{"alp*", "alpine:latest", true}, {"alpine", "alpine:latest", true}, {"team/*", "team/app:1", true},
		{"*:1", "team/app:1", false}, {"team/*:1", "team/app:1", true}, {"busy*", "alpine:latest", false},
	} {
		got, err := MatchReference(c.pattern, c.tag)
		named, _ := reference.ParseNormalizedNamed(c.tag)
		want, werr := reference.FamiliarMatch(c.pattern, named)
		if err != nil || werr != nil || got != c.want || want != c.want {
			t.Errorf("%q ~ %q: ours %v %v, Docker's %v %v, want %v", c.pattern, c.tag, got, err, want, werr, c.want)
		}
	}
}

func TestDigestAlgorithms(t *testing.T) {
	hex := strings.Repeat("a", 64)
	for alg, want := range map[string]string{
		"sha256": "", "md5": "unsupported digest algorithm", "sha-a256": "unsupported digest algorithm", "sha-256": "invalid reference format", "sha+x.y_z": "unsupported digest algorithm",
		"sha--256": "invalid reference format", "-sha": "invalid reference format", "sha-": "invalid reference format", "5ha": "invalid reference format",
	} {
		_, err := ParseNamed("app@" + alg + ":" + hex)
		if got := ""; err != nil {
			got = err.Error()
			if got != want {
				t.Errorf("%s: %q, want %q", alg, got, want)
			}
		} else if want != "" {
			t.Errorf("%s: accepted, want %q", alg, want)
		}
		_, werr := reference.ParseNormalizedNamed("app@" + alg + ":" + hex)
		if (werr == nil) != (want == "") || (werr != nil && werr.Error() != want) {
			t.Errorf("%s: Docker's library says %v, the test wants %q", alg, werr, want)
		}
	}
}
