package verify

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/bundle"
)

// podSecurity reads the Pod Security Admission labels the bundle's POD-00 MutatingPolicy
// gives namespaces, from its api.AnnotationPodSecurity. A bundle without one (built before
// Bulwark recorded the levels) gives nil: coverage then expects what those bundles set.
func podSecurity(desired map[string]map[string]any, objects []bundle.IndexObject) (*api.PodSecurity, error) {
	for _, o := range objects {
		if o.Kind != "MutatingPolicy" || !slices.Contains(o.Controls, controlPSA) {
			continue
		}
		meta, _ := desired[o.File]["metadata"].(map[string]any)
		ann, _ := meta["annotations"].(map[string]any)
		raw, ok := ann[api.AnnotationPodSecurity].(string)
		if !ok {
			continue
		}
		var ps api.PodSecurity
		if err := json.Unmarshal([]byte(raw), &ps); err != nil {
			return nil, fmt.Errorf("bundle file %s: annotation %s: %w", o.File, api.AnnotationPodSecurity, err)
		}
		for _, l := range append([]string{ps.Enforce, ps.EnforceSensitive, ps.Warn, ps.Audit}, exceptionLevels(ps)...) {
			if api.PSSRank(l) < 0 {
				return nil, fmt.Errorf("bundle file %s: annotation %s: %q is not a Pod Security level", o.File, api.AnnotationPodSecurity, l)
			}
		}
		if ps.Version == "" {
			return nil, fmt.Errorf("bundle file %s: annotation %s has no version", o.File, api.AnnotationPodSecurity)
		}
		return &ps, nil
	}
	return nil, nil
}

func exceptionLevels(ps api.PodSecurity) []string {
	var out []string
	for _, e := range ps.Exceptions {
		out = append(out, e.Enforce)
	}
	return out
}

// psaLabelOrder is the order wrong labels are named in.
var psaLabelOrder = []string{
	api.LabelPSAEnforce, api.LabelPSAEnforceVersion, api.LabelPSAWarn, api.LabelPSAWarnVersion, api.LabelPSAAudit, api.LabelPSAAuditVersion,
}

// checkPSA compares a namespace's Pod Security labels with the bundle's: exactly, so an
// enforce level above the bundle's (restricted in an Audit bundle denies what it should
// report) is as wrong as one below it (privileged where the bundle enforces, or a level
// an exception lowered left in place after the exception ended). It returns the
// complaint, or "" when the labels are right.
func checkPSA(ps *api.PodSecurity, name string, sensitive bool, labels map[string]string, now time.Time) string {
	enforce := ps.EnforceFor(name, sensitive, now)
	want := map[string]string{
		api.LabelPSAEnforce: enforce, api.LabelPSAEnforceVersion: ps.Version,
		api.LabelPSAWarn: ps.Warn, api.LabelPSAWarnVersion: ps.Version,
		api.LabelPSAAudit: ps.Audit, api.LabelPSAAuditVersion: ps.Version,
	}
	var wrong []string
	for _, k := range psaLabelOrder {
		if got, ok := labels[k]; !ok || got != want[k] {
			wrong = append(wrong, fmt.Sprintf("%s=%s (has %s)", k, want[k], orUnknown(labels[k], "none")))
		}
	}
	if len(wrong) == 0 {
		return ""
	}
	msg := fmt.Sprintf("namespace %s does not carry the bundle's Pod Security labels: want %s", name, strings.Join(wrong, ", "))
	for _, e := range ps.Exceptions {
		if !slices.Contains(e.Namespaces, name) {
			continue
		}
		if now.Before(e.Until) {
			if e.Enforce == enforce {
				msg += fmt.Sprintf("; exception %s lowers enforce to %s until %s", e.Name, e.Enforce, e.Until.UTC().Format(time.RFC3339))
			}
		} else if api.PSSRank(labels[api.LabelPSAEnforce]) < api.PSSRank(enforce) {
			msg += fmt.Sprintf("; exception %s ended at %s, but the namespace is still lowered (re-apply the namespace so Kyverno relabels it)", e.Name, e.Until.UTC().Format(time.RFC3339))
		}
	}
	return msg
}
