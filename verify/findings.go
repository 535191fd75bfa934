package verify

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func (v *verifier) add(check Check, status Status, controls []string, obj *ObjectRef, format string, args ...any) *Finding {
	f := Finding{Check: check, Status: status, Controls: append([]string{}, controls...), Object: obj, Message: fmt.Sprintf(format, args...)}
	seen := map[string]bool{}
	f.TSC = []string{}
	for _, c := range controls {
		for _, t := range v.controls[c] {
			if !seen[t] {
				seen[t] = true
				f.TSC = append(f.TSC, t)
			}
		}
	}
	sort.Strings(f.TSC)
	if obj != nil && status != Pass {
		f.Command = kubectlGet(obj)
	}
	v.report.Findings = append(v.report.Findings, f)
	return &v.report.Findings[len(v.report.Findings)-1]
}

// resourceName is how kubectl names a kind unambiguously: kind.group.
func resourceName(apiVersion, kind string) string {
	gv, _ := schema.ParseGroupVersion(apiVersion)
	r := strings.ToLower(kind)
	if gv.Group != "" {
		r += "." + gv.Group
	}
	return r
}

func kubectlGet(o *ObjectRef) string {
	cmd := "kubectl get " + resourceName(o.APIVersion, o.Kind) + " " + o.Name
	if o.Namespace != "" {
		cmd += " -n " + o.Namespace
	}
	return cmd + " -o yaml"
}
