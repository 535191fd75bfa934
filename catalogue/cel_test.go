package catalogue

import (
	"testing"

	"github.com/google/cel-go/cel"
)

func TestCELLiteral(t *testing.T) {
	cases := []struct {
		in   any
		want string
	}{
		{"it's \"quoted\"\n", `"it's \"quoted\"\n"`},
		{[]any{"a", 1.0, true}, `["a", 1, true]`},
		{map[string]any{"b": 2.5, "a": nil}, `{"a": null, "b": 2.5}`},
		{int64(7), "7"},
		{[]string{"x", "y"}, `["x", "y"]`},
	}
	for _, tc := range cases {
		got, err := CELLiteral(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("CELLiteral(%#v) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := CELLiteral(struct{}{}); err == nil {
		t.Error("CELLiteral accepted a struct")
	}
}

// A value that looks like CEL stays a string.
func TestCELStringIsALiteral(t *testing.T) {
	env, err := cel.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	expr := CELString(`") || true || ("`) + ` == "\") || true || (\""`
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		t.Fatal(iss.Err())
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := prg.Eval(map[string]any{})
	if err != nil || out.Value() != true {
		t.Fatalf("quoted injection attempt did not stay a string: %v %v", out, err)
	}
}
