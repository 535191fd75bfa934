package verify

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bulwark.dev/bulwark/bundle"
)

// matching checks desired ⊆ live.
func (v *verifier) matching(o bundle.IndexObject, live *unstructured.Unstructured) {
	if d, ok := subset(desired(v.in.desired[o.File]), live.Object); !ok {
		v.add(CheckMatching, Fail, o.Controls, ref(o), "%s %s differs from the bundle at %s: bundle has %s, cluster has %s",
			o.Kind, name(o), d.path, short(d.want), short(d.got))
		return
	}
	v.add(CheckPresent, Pass, o.Controls, ref(o), "%s %s is present and matches the bundle", o.Kind, name(o))
}
