package verify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/bundle"
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
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("client configuration: %w", err))
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("client configuration: %w", err))
	}
	v := &verifier{
		ctx: ctx, dyn: dyn, b: b, opts: opts, in: in,
		mapper:   restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
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
	v.report.Stats.APICalls, v.report.Stats.Bytes, v.report.Stats.Retries = counter.calls.Load(), counter.bytes.Load(), counter.retries.Load()
	var info []controlInfo
	for _, c := range b.Index.Spec.Controls {
		info = append(info, controlInfo{ID: c.ID, Title: c.Title, TSC: c.TSC})
	}
	v.report.finish(info...)
	return v.report, nil
}

func newReport(b *bundle.Bundle, opts Options) *Report {
	s := b.Index.Spec
	return &Report{
		APIVersion: ReportAPIVersion, Kind: ReportKind, Cluster: opts.Cluster, Findings: []Finding{}, Controls: []ControlResult{},
		Bundle: BundleRef{Profile: s.Profile, Version: s.Version, Digest: opts.Digest, Framework: s.Framework, Catalogue: s.Catalogue},
	}
}

// input is what verify derives from the bundle before it asks the cluster anything, so a
// broken bundle is exit 2 however unreachable the cluster is.
type input struct {
	scope   *scope.Matcher
	desired map[string]map[string]any // file -> object the bundle sets
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
	in := &input{scope: sc, desired: map[string]map[string]any{}}
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
	mapper   meta.RESTMapper
	b        *bundle.Bundle
	in       *input
	opts     Options
	report   *Report
	controls map[string][]string // control id -> TSC
	// live holds what each kind's one LIST returned; kinds coverage judges are listed
	// whole (whoever created the objects), the others by the bundle's labels.
	live map[schema.GroupKind][]unstructured.Unstructured
}

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

// enabled reports whether the bundle has the control in force.
func (v *verifier) enabled(id string) bool {
	_, ok := v.controls[id]
	return ok
}

// withLOG02 adds LOG-02 (every bundle policy Ready) when the bundle has it in force.
func (v *verifier) withLOG02(controls []string) []string {
	if !v.enabled(controlEngineReady) {
		return controls
	}
	return append(append([]string(nil), controls...), controlEngineReady)
}

type errNotServed struct{ gk schema.GroupKind }

func (e errNotServed) Error() string {
	return fmt.Sprintf("the cluster does not serve %s (is its CRD installed?)", e.gk)
}

// list reads every object of a kind (label-selected unless selector is nil) with
// paginated LISTs: one LIST per kind, never a GET per object.
func (v *verifier) list(gk schema.GroupKind, version string, selector labels.Selector) ([]unstructured.Unstructured, error) {
	var versions []string
	if version != "" {
		versions = []string{version}
	}
	m, err := v.mapper.RESTMapping(gk, versions...)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, errNotServed{gk}
		}
		return nil, fmt.Errorf("discovering %s: %w", gk, err)
	}
	opts := metav1.ListOptions{Limit: v.opts.PageSize}
	if selector != nil {
		opts.LabelSelector = selector.String()
	}
	var out []unstructured.Unstructured
	for {
		page, err := v.dyn.Resource(m.Resource).List(v.ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", m.Resource.GroupResource(), err)
		}
		out = append(out, page.Items...)
		if page.GetContinue() == "" {
			break
		}
		opts.Continue = page.GetContinue()
	}
	v.report.Stats.Lists++
	v.report.Stats.Objects += len(out)
	return out, nil
}

// kindPlan is what verify reads for one kind.
type kindPlan struct {
	gk      schema.GroupKind
	version string               // the bundle's version; empty: the server's preferred one
	objects []bundle.IndexObject // the bundle's objects of this kind
	whole   bool                 // list every object: coverage judges them whoever created them
}

func objKey(gk schema.GroupKind, ns, name string) string {
	return gk.String() + "|" + ns + "|" + name
}

func (v *verifier) plan() []*kindPlan {
	byGK := map[schema.GroupKind]*kindPlan{}
	for _, o := range v.b.Index.Spec.Objects {
		gvk := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
		p := byGK[gvk.GroupKind()]
		if p == nil {
			p = &kindPlan{gk: gvk.GroupKind(), version: gvk.Version}
			byGK[p.gk] = p
		}
		p.objects = append(p.objects, o)
	}
	for _, gk := range api.GeneratedKinds {
		if byGK[gk] == nil {
			byGK[gk] = &kindPlan{gk: gk}
		}
	}
	for _, gvk := range v.coverageKinds() {
		p := byGK[gvk.GroupKind()]
		if p == nil {
			p = &kindPlan{gk: gvk.GroupKind(), version: gvk.Version}
			byGK[p.gk] = p
		}
		p.whole = true
	}
	plans := make([]*kindPlan, 0, len(byGK))
	for _, p := range byGK {
		plans = append(plans, p)
	}
	sort.Slice(plans, func(i, j int) bool { return plans[i].gk.String() < plans[j].gk.String() })
	return plans
}

func (v *verifier) run() error {
	spec := v.b.Index.Spec
	ours := labels.SelectorFromSet(labels.Set{api.LabelManagedBy: api.ManagedByValue, api.LabelProfile: spec.Profile})
	for _, p := range v.plan() {
		var sel labels.Selector
		if !p.whole {
			sel = ours
		}
		live, err := v.list(p.gk, p.version, sel)
		var notServed errNotServed
		switch {
		case errors.As(err, &notServed):
			for _, o := range p.objects {
				v.add(CheckPresent, Fail, o.Controls, ref(o), "%s %s is missing: %v", o.Kind, name(o), err)
			}
			continue
		case err != nil && len(p.objects) == 0 && !p.whole && apierrors.IsForbidden(err):
			// Only drift of a kind this bundle no longer holds depends on it.
			v.add(CheckDrift, Warn, nil, nil, "cannot look for %s left behind by earlier versions: %v (%s grants it)", p.gk, err, RoleFile)
			continue
		case err != nil:
			return err
		}
		v.live[p.gk] = live
		byKey := map[string]*unstructured.Unstructured{}
		for i := range live {
			l := &live[i]
			byKey[objKey(p.gk, l.GetNamespace(), l.GetName())] = l
		}
		want := map[string]bool{}
		for _, o := range p.objects {
			k := objKey(p.gk, o.Namespace, o.Name)
			want[k] = true
			l, ok := byKey[k]
			if !ok {
				msg := "%s %s is missing"
				if !p.whole {
					msg += " (verify finds bundle objects by the labels " + ours.String() + ")"
				}
				v.add(CheckPresent, Fail, o.Controls, ref(o), msg, o.Kind, name(o))
				continue
			}
			v.matching(o, l)
			v.ready(o, l)
		}
		for _, l := range live {
			if want[objKey(p.gk, l.GetNamespace(), l.GetName())] || !leftBehind(ours, &l) {
				continue
			}
			var ctl []string
			for _, c := range strings.Split(l.GetAnnotations()[api.AnnotationControls], ",") {
				if c = strings.TrimSpace(c); c != "" {
					ctl = append(ctl, c)
				}
			}
			v.add(CheckDrift, Fail, ctl, refOf(&l), "%s %s carries profile %s (version %s) but bundle %s does not contain it: prune it or re-sync",
				l.GetKind(), nameOf(&l), spec.Profile, orUnknown(l.GetLabels()[api.LabelVersion], "unknown"), spec.Version)
		}
	}
	if err := v.coverage(); err != nil {
		return err
	}
	if err := v.gitops(); err != nil {
		return err
	}
	if err := v.auditLogging(); err != nil {
		return err
	}
	v.exceptions()
	return nil
}

// leftBehind reports whether a live object not in the bundle is one an earlier bundle
// version shipped: labelled as the profile's and dated by a version label. Objects Kyverno
// generates from the bundle's GeneratingPolicy carry the profile's labels without a
// version (Kyverno also relabels them managed-by=kyverno), and belong to the policy.
func leftBehind(ours labels.Selector, l *unstructured.Unstructured) bool {
	lbl := l.GetLabels()
	return ours.Matches(labels.Set(lbl)) && lbl[api.LabelVersion] != ""
}

func ref(o bundle.IndexObject) *ObjectRef {
	return &ObjectRef{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
}

func refOf(l *unstructured.Unstructured) *ObjectRef {
	return &ObjectRef{APIVersion: l.GetAPIVersion(), Kind: l.GetKind(), Namespace: l.GetNamespace(), Name: l.GetName()}
}

func name(o bundle.IndexObject) string {
	if o.Namespace != "" {
		return o.Namespace + "/" + o.Name
	}
	return o.Name
}

func nameOf(l *unstructured.Unstructured) string {
	if l.GetNamespace() != "" {
		return l.GetNamespace() + "/" + l.GetName()
	}
	return l.GetName()
}

func orUnknown(s, unknown string) string {
	if s == "" {
		return unknown
	}
	return s
}

// matching checks desired ⊆ live.
func (v *verifier) matching(o bundle.IndexObject, live *unstructured.Unstructured) {
	if d, ok := subset(desired(v.in.desired[o.File]), live.Object); !ok {
		v.add(CheckMatching, Fail, o.Controls, ref(o), "%s %s differs from the bundle at %s: bundle has %s, cluster has %s",
			o.Kind, name(o), d.path, short(d.want), short(d.got))
		return
	}
	v.add(CheckPresent, Pass, o.Controls, ref(o), "%s %s is present and matches the bundle", o.Kind, name(o))
}

// ready checks what controllers report: Kyverno policies, cert-manager issuers and
// certificates. Kinds no controller reports on are ready once they match.
func (v *verifier) ready(o bundle.IndexObject, live *unstructured.Unstructured) {
	gv, _ := schema.ParseGroupVersion(o.APIVersion)
	switch {
	case gv.Group == "policies.kyverno.io" && o.Kind != "PolicyException":
		controls := v.withLOG02(o.Controls)
		ready, found, _ := unstructured.NestedBool(live.Object, "status", "conditionStatus", "ready")
		switch {
		case !found:
			v.add(CheckReady, Fail, controls, ref(o), "%s %s reports no readiness (status.conditionStatus.ready): is Kyverno running and does it serve policies.kyverno.io/v1?", o.Kind, name(o))
		case !ready:
			v.add(CheckReady, Fail, controls, ref(o), "%s %s is not ready: %s", o.Kind, name(o), kyvernoConditions(live))
		default:
			v.add(CheckReady, Pass, controls, ref(o), "%s %s is ready", o.Kind, name(o))
		}
	case gv.Group == "cert-manager.io" && (o.Kind == "ClusterIssuer" || o.Kind == "Issuer" || o.Kind == "Certificate"):
		switch st, reason, msg := condition(live, "Ready"); st {
		case "True":
			v.add(CheckReady, Pass, o.Controls, ref(o), "%s %s is Ready", o.Kind, name(o))
		case "":
			v.add(CheckReady, Fail, o.Controls, ref(o), "%s %s has no Ready condition: is cert-manager running?", o.Kind, name(o))
		default:
			v.add(CheckReady, Fail, o.Controls, ref(o), "%s %s is not Ready (%s): %s", o.Kind, name(o), st+", "+reason, msg)
		}
	}
}

// condition returns the status, reason and message of a status condition.
func condition(obj *unstructured.Unstructured, typ string) (string, string, string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			status, _ := m["status"].(string)
			reason, _ := m["reason"].(string)
			msg, _ := m["message"].(string)
			return status, reason, msg
		}
	}
	return "", "", ""
}

// kyvernoConditions summarises the conditions Kyverno reports as not true.
func kyvernoConditions(obj *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditionStatus", "conditions")
	var msgs []string
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["status"] != "True" {
			msgs = append(msgs, fmt.Sprintf("%v: %v", m["type"], m["message"]))
		}
	}
	if len(msgs) == 0 {
		return "status.conditionStatus.ready is false"
	}
	sort.Strings(msgs)
	return strings.Join(msgs, "; ")
}

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
