// Package verify proves that a live cluster has converged on a bundle version: every bundle
// object present and matching, policies and issuers ready, every namespace in scope now
// covered, the GitOps tool reporting the bundle's digest, no expired exception, and no object
// left behind by an earlier version. It works from the bundle alone (the index carries the
// scope) and reads the cluster with one paginated LIST per kind.
package verify

import (
	"sort"
	"time"
)

// Status is the outcome of one check.
type Status string

// Statuses, worst first.
const (
	Fail Status = "fail"
	Warn Status = "warn"
	Pass Status = "pass"
)

// Check names what was checked.
type Check string

// The checks.
const (
	CheckPresent   Check = "present"
	CheckMatching  Check = "matching"
	CheckReady     Check = "ready"
	CheckCoverage  Check = "coverage"
	CheckGitOps    Check = "gitops"
	CheckException Check = "exception"
	CheckDrift     Check = "drift"
)

// ObjectRef names a cluster object.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// Finding is one result, tied to the controls and criteria it evidences.
type Finding struct {
	Check    Check      `json:"check"`
	Status   Status     `json:"status"`
	Controls []string   `json:"controls"`
	TSC      []string   `json:"tsc"`
	Object   *ObjectRef `json:"object,omitempty"`
	Message  string     `json:"message"`
	// Command is the kubectl command that shows the object.
	Command string `json:"command,omitempty"`
}

// BundleRef identifies the bundle verified.
type BundleRef struct {
	Profile   string `json:"profile"`
	Version   string `json:"version"`
	Digest    string `json:"digest,omitempty"`
	Framework string `json:"framework"`
	Catalogue string `json:"catalogue"`
}

// Stats is what verification cost the API server.
type Stats struct {
	APICalls int64 `json:"apiCalls"`
	Bytes    int64 `json:"bytes"`
	// Namespaces is how many namespaces were in scope.
	Namespaces int `json:"namespacesInScope"`
	Objects    int `json:"objects"`
}

// Report is the verdict for one cluster. Its JSON form is the documented, stable schema
// of `bulwark verify -o json` (one report per cluster, in a list).
type Report struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Cluster    string    `json:"cluster"`
	Bundle     BundleRef `json:"bundle"`
	Converged  bool      `json:"converged"`
	CheckedAt  time.Time `json:"checkedAt"`
	Findings   []Finding `json:"findings"`
	Stats      Stats     `json:"stats"`
	// Error is set when the cluster could not be checked (unreachable, forbidden).
	Error string `json:"error,omitempty"`
}

// Failures counts failing findings.
func (r *Report) Failures() int {
	n := 0
	for _, f := range r.Findings {
		if f.Status == Fail {
			n++
		}
	}
	return n
}

func rank(s Status) int {
	switch s {
	case Fail:
		return 0
	case Warn:
		return 1
	}
	return 2
}

// finish sorts findings (failures first, then by control and object) and sets Converged.
func (r *Report) finish() {
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if rank(a.Status) != rank(b.Status) {
			return rank(a.Status) < rank(b.Status)
		}
		ca, cb := first(a.Controls), first(b.Controls)
		if ca != cb {
			return ca < cb
		}
		return a.Message < b.Message
	})
	r.Converged = r.Error == "" && r.Failures() == 0
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
