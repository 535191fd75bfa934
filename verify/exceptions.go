package verify

import (
	"fmt"
	"strings"
)

// exceptions fails expired exceptions and warns about those expiring soon.
func (v *verifier) exceptions() {
	for _, e := range v.b.Index.Spec.Scope.Exceptions {
		ctl := append([]string(nil), e.Controls...)
		if v.enabled(controlPolicyPlane) {
			ctl = append(ctl, controlPolicyPlane)
		}
		what := fmt.Sprintf("exception %s (%s) for %s in %s", e.Name, orUnknown(e.Ticket, "no ticket"),
			strings.Join(e.Controls, ","), strings.Join(e.Namespaces, ","))
		switch {
		case e.Expired(v.opts.Now):
			v.add(CheckException, Fail, ctl, nil, "%s expired on %s: renew it in the profile or fix the workloads", what, e.Expires)
		case e.ExpiresWithin(v.opts.Now, v.opts.ExpiryWarning):
			v.add(CheckException, Warn, ctl, nil, "%s expires on %s", what, e.Expires)
		default:
			v.add(CheckException, Pass, ctl, nil, "%s holds until %s", what, e.Expires)
		}
	}
}
