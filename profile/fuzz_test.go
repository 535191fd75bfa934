package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must never panic, and every refusal must
// say where the problem is.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../examples/*.yaml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	if starter, err := Starter("soc2"); err == nil {
		f.Add(starter)
	}
	f.Add([]byte(valid))
	f.Add([]byte(valid + "  exceptions: [{controls: [POD-10], namespaces: [a], reason: r, expires: 2027-02-30}]\n"))
	f.Add([]byte("a: &a [x]\nb: *a\n"))
	f.Add([]byte("\t- {"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := LoadBytes("fuzz.yaml", data, opts())
		if err == nil {
			if p == nil || p.Metadata.Name == "" || p.Spec.Framework != "soc2" {
				t.Fatalf("accepted profile is incomplete: %+v", p)
			}
			return
		}
		list, ok := AsErrorList(err)
		if !ok {
			t.Fatalf("error is not positioned: %v", err)
		}
		for _, e := range list {
			if e.File != "fuzz.yaml" || e.Line < 0 || e.Col < 0 || !strings.HasPrefix(e.Error(), "fuzz.yaml") {
				t.Fatalf("bad error location: %q", e.Error())
			}
			if e.Line == 0 && !strings.Contains(e.Msg, "larger than") {
				t.Fatalf("error without a line: %q", e.Error())
			}
		}
	})
}
