package bundle

import (
	"strings"
	"testing"
)

func TestChangedFields(t *testing.T) {
	cases := []struct {
		name, a, b string
		want       string
		omitted    int
	}{
		{"scalar", "a: 1\nb: x\n", "a: 2\nb: x\n", "a", 0},
		{"key added and removed", "a: 1\n", "b: 1\n", "a,b", 0},
		{"label keys are quoted", "metadata:\n  labels:\n    bulwark.dev/tier: a\n", "metadata:\n  labels:\n    bulwark.dev/tier: b\n", `metadata.labels["bulwark.dev/tier"]`, 0},
		{"list grows", "l: [1, 2]\n", "l: [1, 2, 3]\n", "l[2]", 0},
		{"type changes", "a: {x: 1}\n", "a: [1]\n", "a", 0},
		{"formatting only", "a: 1\nb: 2\n", "b: 2\na: 1\n", "(formatting)", 0},
		{"capped", "a: [1,2,3,4,5,6,7,8,9,10]\n", "a: [0,0,0,0,0,0,0,0,0,0]\n", "a[0],a[1],a[2],a[3],a[4],a[5],a[6],a[7]", 2},
		{"not YAML", "a: [\n", "a: 1\n", "(document)", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, omitted := changedFields(tc.a, tc.b)
			if strings.Join(got, ",") != tc.want || omitted != tc.omitted {
				t.Errorf("fields %q (+%d), want %q (+%d)", strings.Join(got, ","), omitted, tc.want, tc.omitted)
			}
		})
	}
}
