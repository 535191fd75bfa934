package verify

import (
	"sort"
	"time"
)

// The report's identity in its JSON form.
const (
	ReportAPIVersion = "bulwark.dev/v1alpha1"
	ReportKind       = "VerifyReport"
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
	// CheckPresent: a bundle object exists (and, when passing, matches).
	CheckPresent Check = "present"
	// CheckMatching: a field the bundle sets has a different live value.
	CheckMatching Check = "matching"
	// CheckReady: Kyverno policies, cert-manager issuers and certificates report ready.
	CheckReady Check = "ready"
	// CheckCoverage: every namespace in scope now is covered; the API server audits.
	CheckCoverage Check = "coverage"
	// CheckGitOps: Flux or Argo CD report the bundle's digest, applied and healthy.
	CheckGitOps Check = "gitops"
	// CheckException: no exception expired; those expiring soon are warned about.
	CheckException Check = "exception"
	// CheckDrift: an object labelled as the profile's that the bundle does not contain.
	CheckDrift Check = "drift"
	// CheckForeign: an object the bundle does not ship that weakens one it does, such as a
	// PolicyException exempting resources from a bundle policy.
	CheckForeign Check = "foreign"
)

// ObjectRef names a cluster object.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Namespace is empty for cluster-scoped objects.
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Finding is one result, tied to the controls and criteria it evidences.
type Finding struct {
	// Check is what was checked.
	Check Check `json:"check"`
	// Status is fail, warn or pass.
	Status Status `json:"status"`
	// Controls are the catalogue control ids the finding evidences; never null.
	Controls []string `json:"controls"`
	// TSC are the Trust Services Criteria of those controls, sorted; never null.
	TSC []string `json:"tsc"`
	// Object is the object concerned, when there is one.
	Object *ObjectRef `json:"object,omitempty"`
	// Message says what was found.
	Message string `json:"message"`
	// Command is the kubectl command that shows the object, for failures and warnings.
	Command string `json:"command,omitempty"`
}

// ControlResult is the verdict on one control: the worst status of its findings.
type ControlResult struct {
	ID    string   `json:"id"`
	Title string   `json:"title,omitempty"`
	TSC   []string `json:"tsc"`
	// Status is fail if any finding of the control failed, else warn if any warned.
	Status Status `json:"status"`
	// Failures counts the control's failing findings.
	Failures int `json:"failures"`
	// Compliance is what the policy engine's reports found for the control's policies,
	// when the cluster serves reports and they hold results for them.
	Compliance *Compliance `json:"compliance,omitempty"`
}

// NotApplicable is an enabled control the bundle holds nothing for, and the bundle's reason.
type NotApplicable struct {
	ID     string `json:"id"`
	Title  string `json:"title,omitempty"`
	Reason string `json:"reason"`
}

// BundleRef identifies the bundle verified.
type BundleRef struct {
	Profile string `json:"profile"`
	Version string `json:"version"`
	// Digest is the bundle's OCI manifest digest, when known.
	Digest    string `json:"digest,omitempty"`
	Framework string `json:"framework"`
	Catalogue string `json:"catalogue"`
}

// Stats is what verification cost the API server.
type Stats struct {
	// APICalls counts HTTP requests sent, retries and discovery included.
	APICalls int64 `json:"apiCalls"`
	// Bytes counts response body bytes read.
	Bytes int64 `json:"bytes"`
	// Lists counts the kinds listed (each LIST may span several pages).
	Lists int `json:"lists"`
	// Retries counts requests repeated after throttling or a brief outage.
	Retries int64 `json:"retries"`
	// Namespaces is how many namespaces were in scope.
	Namespaces int `json:"namespacesInScope"`
	// Objects is how many objects the LISTs returned.
	Objects int `json:"objects"`
}

// Report is the verdict for one cluster. Its JSON form is the documented, stable schema
// of `bulwark verify -o json` (see the package documentation).
type Report struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Cluster    string    `json:"cluster"`
	Bundle     BundleRef `json:"bundle"`
	// Converged is true when the cluster was checked and no finding failed.
	Converged bool `json:"converged"`
	// CheckedAt is the reference time of the checks (exception expiry is judged against it).
	CheckedAt time.Time `json:"checkedAt"`
	Findings  []Finding `json:"findings"`
	// Controls summarise the findings per control; only controls the bundle realises.
	Controls []ControlResult `json:"controls"`
	// NotApplicable are the enabled controls the bundle does not realise (its index's
	// notRealised), which verify does not check.
	NotApplicable []NotApplicable `json:"notApplicable,omitempty"`
	// Identity tells the cluster apart from others of the same name, for evidence: no
	// credential, only what any reader of it could see.
	Identity *ClusterIdentity `json:"identity,omitempty"`
	// GitOps are the revisions the GitOps objects named by --flux or --argocd reported.
	GitOps []GitOpsRevision `json:"gitops,omitempty"`
	Stats  Stats            `json:"stats"`
	// Error is set when the cluster could not be checked (unreachable, forbidden).
	Error string `json:"error,omitempty"`
}

// ClusterIdentity identifies a cluster without a credential.
type ClusterIdentity struct {
	// ServerSHA256 is the SHA-256 of the API server URL (hashed: the URL may name a private
	// endpoint).
	ServerSHA256 string `json:"serverSHA256"`
	// KubeSystemUID is the UID of the kube-system namespace: stable for the cluster's life
	// and different in every cluster.
	KubeSystemUID string `json:"kubeSystemUID,omitempty"`
}

// GitOpsRevision is the revision a GitOps object reported.
type GitOpsRevision struct {
	Object   ObjectRef `json:"object"`
	Revision string    `json:"revision"`
}

// Failures counts failing findings.
func (r *Report) Failures() int { return r.count(Fail) }

// Warnings counts warning findings.
func (r *Report) Warnings() int { return r.count(Warn) }

func (r *Report) count(s Status) int {
	n := 0
	for _, f := range r.Findings {
		if f.Status == s {
			n++
		}
	}
	return n
}

// FirstFailure returns the first failing finding, for progress lines; nil if none.
func (r *Report) FirstFailure() *Finding {
	for i := range r.Findings {
		if r.Findings[i].Status == Fail {
			return &r.Findings[i]
		}
	}
	return nil
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

// finish sorts findings (failures first, then by control, object and message), sums them
// up per control (titles and TSC points from the bundle's controls) and sets Converged.
func (r *Report) finish(controls ...controlInfo) {
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if rank(a.Status) != rank(b.Status) {
			return rank(a.Status) < rank(b.Status)
		}
		if ca, cb := first(a.Controls), first(b.Controls); ca != cb {
			return ca < cb
		}
		if oa, ob := objectKey(a.Object), objectKey(b.Object); oa != ob {
			return oa < ob
		}
		return a.Message < b.Message
	})
	info := map[string]controlInfo{}
	for _, c := range controls {
		info[c.ID] = c
	}
	byID := map[string]*ControlResult{}
	for _, f := range r.Findings {
		for _, id := range f.Controls {
			c := byID[id]
			if c == nil {
				c = &ControlResult{ID: id, Title: info[id].Title, TSC: append([]string{}, info[id].TSC...), Status: Pass}
				byID[id] = c
			}
			if rank(f.Status) < rank(c.Status) {
				c.Status = f.Status
			}
			if f.Status == Fail {
				c.Failures++
			}
		}
	}
	r.Controls = make([]ControlResult, 0, len(byID))
	for _, c := range byID {
		r.Controls = append(r.Controls, *c)
	}
	sort.Slice(r.Controls, func(i, j int) bool { return r.Controls[i].ID < r.Controls[j].ID })
	r.Converged = r.Error == "" && r.Failures() == 0
}

// controlInfo is what the report takes from a bundle control: its title and TSC.
type controlInfo struct {
	ID    string
	Title string
	TSC   []string
}

func objectKey(o *ObjectRef) string {
	if o == nil {
		return ""
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
