// Package evidence turns a verification into records an auditor can check later: in-toto
// Statements whose subject is the bundle digest, one per cluster and verification.
//
// Two predicates, for two readers. SLSA's Verification Summary Attestation
// (https://slsa.dev/verification_summary/v1) is what policy engines and release gates
// already read: a verifier, a time, the resource, PASSED or FAILED. It cannot say which
// control held, which Trust Services Criteria it serves, or what the policy engine found, so
// the per-control detail is a Bulwark predicate (PredicateType, documented in
// docs/evidence.md), and the summary names the detail statement by digest among its input
// attestations, so one cannot be swapped without the other.
package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	vsa "github.com/in-toto/attestation/go/predicates/vsa/v1"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/verify"
)

// Predicate types and the verifier's identity.
const (
	// PredicateType is Bulwark's per-control verification predicate.
	PredicateType = "https://bulwark.dev/attestations/verification/v1alpha1"
	// VSAPredicateType is SLSA's Verification Summary Attestation.
	VSAPredicateType = "https://slsa.dev/verification_summary/v1"
	// VerifierID names `bulwark verify` as the verifier in summaries.
	VerifierID = "https://bulwark.dev/verify"
	// VerifiedLevel is the level a PASSED summary claims: the cluster converged on the
	// bundle (every check of `bulwark verify` held).
	VerifiedLevel = "BULWARK_CONVERGED"
)

// ProbedLevel is claimed besides VerifiedLevel when enforcement probes ran and every one
// was answered as it must be: converged and shown enforced by admission itself. Without it a
// PASSED summary says nothing about enforcement (probes not asked for, or not all sent).
const ProbedLevel = "BULWARK_ENFORCEMENT_PROBED"

// probed reports whether the report holds probe findings and all of them passed.
func probed(r *verify.Report) bool {
	n := 0
	for _, f := range r.Findings {
		if f.Check == verify.CheckProbe {
			if f.Status != verify.Pass {
				return false
			}
			n++
		}
	}
	return n > 0
}

// Verification results, as VSA spells them.
const (
	Passed = "PASSED"
	Failed = "FAILED"
)

// Predicate is the body of a Bulwark verification statement.
type Predicate struct {
	// Cluster is the cluster verified, by kubeconfig context and identity (no credential).
	Cluster Cluster `json:"cluster"`
	// VerifiedAt is when verify checked it (the reference time of exception expiry).
	VerifiedAt time.Time `json:"verifiedAt"`
	// Verifier is the Bulwark binary and control catalogue that checked.
	Verifier Verifier `json:"verifier"`
	// Bundle is the profile and version verified; the digest is the statement's subject.
	Bundle verify.BundleRef `json:"bundle"`
	// GitOps are the revisions the GitOps objects reported.
	GitOps []verify.GitOpsRevision `json:"gitops,omitempty"`
	// Result is PASSED when the cluster converged, FAILED otherwise.
	Result string `json:"result"`
	// Controls are the verdict per control the bundle realises.
	Controls []Control `json:"controls"`
	// NotApplicable are enabled controls the bundle does not realise, with the reason.
	NotApplicable []verify.NotApplicable `json:"notApplicable,omitempty"`
}

// Cluster identifies a cluster.
type Cluster struct {
	Name string `json:"name"`
	verify.ClusterIdentity
}

// Verifier is what checked.
type Verifier struct {
	ID        string `json:"id"`
	Version   string `json:"version"`
	Catalogue string `json:"catalogue"`
}

// Control is one control's verdict and the evidence behind it.
type Control struct {
	ID    string   `json:"id"`
	Title string   `json:"title,omitempty"`
	TSC   []string `json:"tsc"`
	// Status is the worst of the checks' statuses: pass, warn or fail.
	Status verify.Status `json:"status"`
	// Checks are the findings of every check for the control.
	Checks []Check `json:"checks"`
	// Compliance is what the policy engine's reports found, when it reported.
	Compliance *verify.Compliance `json:"compliance,omitempty"`
	// Exceptions are the profile's exceptions waiving the control at VerifiedAt.
	Exceptions []Exception `json:"exceptions,omitempty"`
}

// Check is one finding.
type Check struct {
	Check   verify.Check      `json:"check"`
	Status  verify.Status     `json:"status"`
	Object  *verify.ObjectRef `json:"object,omitempty"`
	Message string            `json:"message"`
}

// Exception is a waiver in force.
type Exception struct {
	Name       string   `json:"name"`
	Namespaces []string `json:"namespaces"`
	Ticket     string   `json:"ticket,omitempty"`
	Expires    string   `json:"expires"`
}

// Options say what the report alone does not.
type Options struct {
	// ResourceURI names the bundle, e.g. oci://ghcr.io/acme/policies/payments (no tag).
	ResourceURI string
	// Version is the Bulwark binary's version.
	Version string
}

// Statements are a cluster's verification as a VSA summary and a Bulwark detail
// statement, both about the bundle digest.
type Statements struct {
	Summary *ita1.Statement
	Detail  *ita1.Statement
}

// New builds the statements for one cluster's report of bundle b.
func New(r *verify.Report, b *bundle.Bundle, opts Options) (*Statements, error) {
	if r == nil || b == nil {
		return nil, errors.New("evidence needs a report and its bundle")
	}
	if r.Error != "" {
		return nil, fmt.Errorf("cluster %s was not checked (%s): there is no verification to record", r.Cluster, r.Error)
	}
	algo, hexDigest, ok := strings.Cut(r.Bundle.Digest, ":")
	if !ok || algo != "sha256" || len(hexDigest) != 64 {
		return nil, fmt.Errorf("evidence is about a bundle digest, and the verification has none (%q): verify a pulled bundle or pass --digest", r.Bundle.Digest)
	}
	name := opts.ResourceURI
	if name == "" {
		name = b.Index.Spec.Profile
	}
	subject := []*ita1.ResourceDescriptor{{Name: name, Digest: map[string]string{"sha256": hexDigest}}}
	result := Failed
	if r.Converged {
		result = Passed
	}
	p := Predicate{
		Cluster:       Cluster{Name: r.Cluster},
		VerifiedAt:    r.CheckedAt.UTC(),
		Verifier:      Verifier{ID: VerifierID, Version: opts.Version, Catalogue: r.Bundle.Catalogue},
		Bundle:        r.Bundle,
		GitOps:        r.GitOps,
		Result:        result,
		NotApplicable: r.NotApplicable,
		Controls:      []Control{},
	}
	if r.Identity != nil {
		p.Cluster.ClusterIdentity = *r.Identity
	}
	checks := map[string][]Check{}
	for _, f := range r.Findings {
		for _, id := range f.Controls {
			checks[id] = append(checks[id], Check{Check: f.Check, Status: f.Status, Object: f.Object, Message: f.Message})
		}
	}
	for _, c := range r.Controls {
		ctl := Control{ID: c.ID, Title: c.Title, TSC: c.TSC, Status: c.Status, Checks: checks[c.ID], Compliance: c.Compliance}
		for _, e := range b.Index.Spec.Scope.Exceptions {
			if !e.Expired(r.CheckedAt) && contains(e.Controls, c.ID) {
				ctl.Exceptions = append(ctl.Exceptions, Exception{Name: e.Name, Namespaces: e.Namespaces, Ticket: e.Ticket, Expires: e.Expires.String()})
			}
		}
		p.Controls = append(p.Controls, ctl)
	}
	sort.Slice(p.Controls, func(i, j int) bool { return p.Controls[i].ID < p.Controls[j].ID })
	detailBody, err := toStruct(p)
	if err != nil {
		return nil, err
	}
	detail := &ita1.Statement{Type: ita1.StatementTypeUri, Subject: subject, PredicateType: PredicateType, Predicate: detailBody}
	if err := detail.Validate(); err != nil {
		return nil, fmt.Errorf("detail statement: %w", err)
	}
	detailJSON, err := Marshal(detail)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(detailJSON)
	summary := &vsa.VerificationSummary{
		Verifier:     &vsa.VerificationSummary_Verifier{Id: VerifierID},
		TimeVerified: timestamppb.New(r.CheckedAt.UTC()),
		ResourceUri:  name,
		Policy:       &vsa.VerificationSummary_Policy{Uri: "https://bulwark.dev/catalogue/" + r.Bundle.Framework + "/" + r.Bundle.Catalogue},
		InputAttestations: []*vsa.VerificationSummary_InputAttestation{{
			Uri: PredicateType, Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])},
		}},
		VerificationResult: result,
	}
	if r.Converged {
		summary.VerifiedLevels = []string{VerifiedLevel}
		if probed(r) {
			summary.VerifiedLevels = append(summary.VerifiedLevels, ProbedLevel)
		}
	}
	summaryBody, err := toStruct(summary)
	if err != nil {
		return nil, err
	}
	st := &ita1.Statement{Type: ita1.StatementTypeUri, Subject: subject, PredicateType: VSAPredicateType, Predicate: summaryBody}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("summary statement: %w", err)
	}
	return &Statements{Summary: st, Detail: detail}, nil
}

// Marshal writes a statement as compact JSON with sorted keys: protojson's output varies in
// whitespace by design, and a record's bytes are what its signature covers.
func Marshal(st *ita1.Statement) ([]byte, error) {
	raw, err := protojson.Marshal(st)
	if err != nil {
		return nil, err
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// Unmarshal reads a statement.
func Unmarshal(data []byte) (*ita1.Statement, error) {
	st := &ita1.Statement{}
	if err := protojson.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("not an in-toto statement: %w", err)
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return st, nil
}

// DetailOf decodes a Bulwark detail statement's predicate.
func DetailOf(st *ita1.Statement) (*Predicate, error) {
	if st.GetPredicateType() != PredicateType {
		return nil, fmt.Errorf("predicate type %q, not %s", st.GetPredicateType(), PredicateType)
	}
	data, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		return nil, err
	}
	var p Predicate
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// toStruct converts a predicate to the Struct a Statement carries: JSON for Bulwark's own
// types, protojson for a protobuf message (the VSA), whose field names it defines.
func toStruct(v any) (*structpb.Struct, error) {
	var data []byte
	var err error
	if m, ok := v.(proto.Message); ok {
		data, err = protojson.Marshal(m)
	} else {
		data, err = json.Marshal(v)
	}
	if err != nil {
		return nil, err
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(data, s); err != nil {
		return nil, err
	}
	return s, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
