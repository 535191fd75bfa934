package verify

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/internal/crds"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/scope"
)

// RoleFile is where the read-only role verify needs is published.
const RoleFile = "examples/verify-clusterrole.yaml"

// NamespacedName names a GitOps object, written NAMESPACE/NAME.
type NamespacedName struct{ Namespace, Name string }

func (n NamespacedName) String() string { return n.Namespace + "/" + n.Name }

// ParseNamespacedName reads NAMESPACE/NAME.
func ParseNamespacedName(s string) (NamespacedName, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return NamespacedName{}, fmt.Errorf("%q is not NAMESPACE/NAME", s)
	}
	return NamespacedName{ns, name}, nil
}

// Options tune a verification.
type Options struct {
	// Cluster names the cluster in the report (the kubeconfig context).
	Cluster string
	// Digest is the bundle's manifest digest (sha256:...), which GitOps tools must report.
	// Empty skips the revision comparison (the GitOps objects must still be Ready).
	Digest string
	// DigestFromDirectory says Digest was computed from a bundle directory as it would be
	// pushed without push-time annotations, not read from a registry: a mismatch may then
	// mean the bundle was pushed with them, and the report says so.
	DigestFromDirectory bool
	// Flux names an OCIRepository and a Kustomization of the same name to check.
	Flux *NamespacedName
	// ArgoCD names an Argo CD Application to check.
	ArgoCD *NamespacedName
	// Now is the reference time for exception expiry; zero means time.Now().
	Now time.Time
	// ExpiryWarning is how close to expiry an exception is reported. Defaults to 30 days.
	ExpiryWarning time.Duration
	// PageSize bounds each LIST page. Defaults to 500.
	PageSize int64
	// Probe sends every enforcing control's catalogue fixtures to admission as server-side
	// dry runs (nothing is stored) and requires the deny fixture refused with the control's
	// id and the admit fixture let through: the only check that shows the webhook, Kyverno's
	// policy cache and the policy's scope work together. It needs the create permissions of
	// ProbeRoleName in RoleFile.
	Probe bool
	// RequireCompliant fails the gate on any failing result of the policy engine's reports
	// for a bundle policy (by default they are warnings: convergence is what the gate checks).
	RequireCompliant bool
	// Retries is how often one read is retried on throttling, a brief outage or a dropped
	// connection, within the client timeout. Zero means 4; negative disables retries.
	Retries int
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Run verifies one cluster. It returns an error only when the input is unusable (exit 2)
// or the cluster could not be checked (exit 3: unreachable, forbidden, timeout); a cluster
// that has not converged is a Report with failing findings and Converged false.
func Run(ctx context.Context, cfg *rest.Config, b *bundle.Bundle, opts Options) (*Report, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.ExpiryWarning == 0 {
		opts.ExpiryWarning = 30 * 24 * time.Hour
	}
	if opts.PageSize == 0 {
		opts.PageSize = 500
	}
	switch {
	case opts.Retries == 0:
		opts.Retries = defaultRetries
	case opts.Retries < 0:
		opts.Retries = 0
	}
	in, err := prepare(b, opts)
	if err != nil {
		return nil, exitcode.AsBadInput(err)
	}
	if cfg == nil {
		return nil, exitcode.AsBadInput(errors.New("no cluster configuration"))
	}
	counter := &callCounter{}
	retry := &retrier{retries: opts.Retries, counter: counter, sleep: sleepCtx}
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = chain(cfg.WrapTransport, counter.wrap, retry.wrap)
	rc, err := restClientFor(cfg)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("client configuration: %w", err))
	}
	v := &verifier{
		ctx: ctx, dyn: dynamic.New(rc), b: b, opts: opts, in: in,
		mapper:   newMapper(ctx, rc),
		controls: map[string][]string{},
		live:     map[schema.GroupKind][]unstructured.Unstructured{},
		report:   newReport(b, opts),
	}
	v.report.CheckedAt = opts.Now.UTC().Truncate(time.Second)
	for _, c := range b.Index.Spec.Controls {
		v.controls[c.ID] = c.TSC
	}
	if err := v.run(); err != nil {
		return nil, classify(err)
	}
	if opts.Probe {
		if err := v.probes(); err != nil {
			return nil, classify(err)
		}
	}
	v.report.Identity = &ClusterIdentity{ServerSHA256: fmt.Sprintf("%x", sha256.Sum256([]byte(strings.TrimSuffix(cfg.Host, "/"))))}
	for _, ns := range v.live[namespaceGVK.GroupKind()] {
		if ns.GetName() == "kube-system" {
			v.report.Identity.KubeSystemUID = string(ns.GetUID())
		}
	}
	v.report.Stats.APICalls, v.report.Stats.Bytes, v.report.Stats.Retries = counter.calls.Load(), counter.bytes.Load(), counter.retries.Load()
	var info []controlInfo
	for _, c := range b.Index.Spec.Controls {
		info = append(info, controlInfo{ID: c.ID, Title: c.Title, TSC: c.TSC})
	}
	v.report.finish(info...)
	for i := range v.report.Controls {
		v.report.Controls[i].Compliance = v.compliances[v.report.Controls[i].ID]
	}
	return v.report, nil
}

func newReport(b *bundle.Bundle, opts Options) *Report {
	s := b.Index.Spec
	r := &Report{
		APIVersion: ReportAPIVersion, Kind: ReportKind, Cluster: opts.Cluster, Findings: []Finding{}, Controls: []ControlResult{},
		Bundle: BundleRef{Profile: s.Profile, Version: s.Version, Digest: opts.Digest, Framework: s.Framework, Catalogue: s.Catalogue},
	}
	for _, n := range s.NotRealised {
		r.NotApplicable = append(r.NotApplicable, NotApplicable{ID: n.ID, Title: n.Title, Reason: n.Reason})
	}
	return r
}

// input is what verify derives from the bundle before it asks the cluster anything, so a
// broken bundle is exit 2 however unreachable the cluster is.
type input struct {
	scope   *scope.Matcher
	desired map[string]map[string]any // file -> object the bundle sets
	// psa is the Pod Security labels POD-00's MutatingPolicy records, nil in a bundle
	// that predates the record.
	psa *api.PodSecurity
	// generated are the objects the bundle's GeneratingPolicies write, by "Kind/name".
	generated map[string]generatedObject
	// static are the bundle's own objects, by objKey.
	static map[string]bool
	// defaulted are the bundle's custom resources with their CRD's schema defaults applied,
	// by file, as the API server stores them.
	defaulted map[string]map[string]any
}

func prepare(b *bundle.Bundle, opts Options) (*input, error) {
	if b == nil {
		return nil, errors.New("no bundle")
	}
	if opts.Digest != "" && !digestRE.MatchString(opts.Digest) {
		return nil, fmt.Errorf("digest %q is not sha256:<64 hex digits>", opts.Digest)
	}
	sc, err := scope.New(b.Index.Spec.Scope.Namespaces).Matcher()
	if err != nil {
		return nil, err
	}
	defaults, err := crds.Defaults()
	if err != nil {
		return nil, err
	}
	in := &input{scope: sc, desired: map[string]map[string]any{}, static: map[string]bool{}, defaulted: map[string]map[string]any{}}
	for _, o := range b.Index.Spec.Objects {
		var obj map[string]any
		if err := yaml.Unmarshal(b.Files[o.File], &obj); err != nil {
			return nil, fmt.Errorf("bundle file %s: %w", o.File, err)
		}
		gvk := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
		if gvk.Kind == "" || gvk.Version == "" || o.Name == "" {
			return nil, fmt.Errorf("bundle index entry %s: apiVersion, kind and name are required", o.File)
		}
		if obj["apiVersion"] != o.APIVersion || obj["kind"] != o.Kind {
			return nil, fmt.Errorf("bundle file %s holds %v %v, the index says %s %s", o.File, obj["apiVersion"], obj["kind"], o.APIVersion, o.Kind)
		}
		in.desired[o.File] = obj
		in.static[objKey(gvk.GroupKind(), o.Namespace, o.Name)] = true
		if defaults.Knows(gvk) {
			d, err := defaults.Default(gvk, obj)
			if err != nil {
				return nil, fmt.Errorf("bundle file %s: %w", o.File, err)
			}
			in.defaulted[o.File] = d
		}
	}
	if in.psa, err = podSecurity(in.desired, b.Index.Spec.Objects); err != nil {
		return nil, err
	}
	if in.generated, err = generatedObjects(in.desired); err != nil {
		return nil, err
	}
	return in, nil
}

// classify marks cluster errors as exit 3 and says what to do about them; errors already
// classified (a bad bundle is exit 2) keep their code.
func classify(err error) error {
	var coded *exitcode.Error
	if errors.As(err, &coded) {
		return err
	}
	var netErr net.Error
	switch {
	case apierrors.IsForbidden(err):
		return exitcode.AsEnvironment(fmt.Errorf("forbidden: %w (%s is the read-only role verify needs)", err, RoleFile))
	case apierrors.IsUnauthorized(err):
		return exitcode.AsEnvironment(fmt.Errorf("authentication refused: %w", err))
	case apierrors.IsTooManyRequests(err), apierrors.IsServiceUnavailable(err):
		return exitcode.AsEnvironment(fmt.Errorf("cluster unavailable: %w", err))
	case errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return exitcode.AsEnvironment(fmt.Errorf("cluster unreachable: %w", err))
	}
	return exitcode.AsEnvironment(err)
}

type verifier struct {
	ctx      context.Context
	dyn      dynamic.Interface
	mapper   *mapper
	b        *bundle.Bundle
	in       *input
	opts     Options
	report   *Report
	controls map[string][]string // control id -> TSC
	// compliances are the policy engine's results per control, when it reports any.
	compliances map[string]*Compliance
	// probeSuffix ends every probe object's name, fresh each run.
	probeSuffix string
	// inScope are the namespaces in scope now, sorted by name, as coverage found them.
	inScope []nsInScope
	// live holds what each kind's one LIST returned; kinds coverage judges are listed
	// whole (whoever created the objects), the others by the bundle's labels.
	live map[schema.GroupKind][]unstructured.Unstructured
}

// enabled reports whether the bundle realises the control (its index lists it; controls
// the index lists as not realised are not checked).
func (v *verifier) enabled(id string) bool {
	_, ok := v.controls[id]
	return ok
}

// withLOG02 adds LOG-02 (every bundle policy Ready) when the bundle realises it.
func (v *verifier) withLOG02(controls []string) []string {
	if !v.enabled(controlEngineReady) {
		return controls
	}
	return append(append([]string(nil), controls...), controlEngineReady)
}
