package filters

import (
	"strings"
	"testing"
)

func TestFilters(t *testing.T) {
	for _, s := range []string{`{"name":{"cm0":true}}`, `{"name":["cm0"]}`} {
		f, err := Parse(s, "name")
		if err != nil {
			t.Fatal(err)
		}
		if !f.Match("name", "/cm08") || f.Match("name", "/web") {
			t.Fatalf("%s: name regexp match", s)
		}
	}
	if _, err := Parse(`{"colour":{"red":true}}`, "name"); err == nil || !strings.Contains(err.Error(), "invalid filter 'colour'") {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := Parse(`{bad`, "name"); err == nil {
		t.Fatal("bad JSON accepted")
	}
	f, _ := Parse(`{"label":{"a=1":true,"b":true}}`, "label")
	if !f.MatchLabels(map[string]string{"a": "1", "b": "x"}) || f.MatchLabels(map[string]string{"a": "2", "b": ""}) {
		t.Fatal("label match")
	}
}
