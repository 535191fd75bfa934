package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/profile"
	"bulwark.dev/bulwark/verify"
)

func testReport(converged bool) (*verify.Report, *bundle.Bundle) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	b := &bundle.Bundle{Index: bundle.Index{Spec: bundle.IndexSpec{Profile: "payments-soc2", Version: "1.4.0", Scope: profile.Spec{Exceptions: []profile.Exception{
		{Name: "sec-142", Controls: []string{"POD-10"}, Namespaces: []string{"legacy-batch"}, Ticket: "SEC-142", Expires: profile.Date{Time: now.AddDate(0, 6, 0)}},
		{Name: "old", Controls: []string{"POD-10"}, Namespaces: []string{"x"}, Expires: profile.Date{Time: now.AddDate(0, -1, 0)}},
	}}}}}
	status := verify.Pass
	if !converged {
		status = verify.Fail
	}
	r := &verify.Report{
		Cluster: "prod-eu", Converged: converged, CheckedAt: now,
		Bundle:   verify.BundleRef{Profile: "payments-soc2", Version: "1.4.0", Digest: "sha256:" + strings.Repeat("ab", 32), Framework: "soc2", Catalogue: "1.1.0"},
		Identity: &verify.ClusterIdentity{ServerSHA256: strings.Repeat("1", 64), KubeSystemUID: "8c5e-uid"},
		GitOps:   []verify.GitOpsRevision{{Object: verify.ObjectRef{APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "OCIRepository", Namespace: "flux-system", Name: "payments"}, Revision: "1.4.0@sha256:" + strings.Repeat("ab", 32)}},
		Findings: []verify.Finding{
			{Check: verify.CheckProbe, Status: status, Controls: []string{"POD-10"}, Message: "deny probe refused by POD-10"},
			{Check: verify.CheckCoverage, Status: verify.Pass, Controls: []string{"NET-01"}, Message: "all 3 namespaces in scope are covered"},
		},
		Controls: []verify.ControlResult{{ID: "POD-10", TSC: []string{"CC6.8"}, Status: status, Compliance: &verify.Compliance{Pass: 3, Fail: 1, FailingTotal: 1}},
			{ID: "NET-01", TSC: []string{"CC6.1", "CC6.6"}, Status: verify.Pass}},
	}
	return r, b
}

func TestStatements(t *testing.T) {
	r, b := testReport(true)
	st, err := New(r, b, Options{ResourceURI: "oci://ghcr.io/acme/policies/payments", Version: "v0.9.0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Statements{st} {
		for _, x := range []struct {
			name, predicateType string
		}{{"summary", VSAPredicateType}, {"detail", PredicateType}} {
			stmt := s.Summary
			if x.name == "detail" {
				stmt = s.Detail
			}
			if stmt.GetPredicateType() != x.predicateType || len(stmt.GetSubject()) != 1 ||
				stmt.GetSubject()[0].GetDigest()["sha256"] != strings.Repeat("ab", 32) || stmt.GetSubject()[0].GetName() != "oci://ghcr.io/acme/policies/payments" {
				t.Errorf("%s statement: %v", x.name, stmt)
			}
		}
	}
	sum := st.Summary.GetPredicate().AsMap()
	if sum["verificationResult"] != Passed || sum["resourceUri"] != "oci://ghcr.io/acme/policies/payments" {
		t.Errorf("summary predicate %v", sum)
	}
	// The summary names the detail statement by its digest.
	detail, err := Marshal(st.Detail)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(detail)
	inputs, _ := sum["inputAttestations"].([]any)
	if len(inputs) != 1 || inputs[0].(map[string]any)["digest"].(map[string]any)["sha256"] != hex.EncodeToString(d[:]) {
		t.Errorf("input attestations %v, detail digest %x", inputs, d)
	}
	// Stable bytes: the same verification marshals the same way.
	again, _ := New(r, b, Options{ResourceURI: "oci://ghcr.io/acme/policies/payments", Version: "v0.9.0"})
	if a, _ := Marshal(again.Detail); !bytes.Equal(a, detail) {
		t.Error("the same verification marshalled differently")
	}
	// And reads back.
	back, err := Unmarshal(detail)
	if err != nil {
		t.Fatal(err)
	}
	p, err := DetailOf(back)
	if err != nil {
		t.Fatal(err)
	}
	if p.Cluster.Name != "prod-eu" || p.Cluster.KubeSystemUID != "8c5e-uid" || p.Result != Passed || len(p.Controls) != 2 || p.Verifier.Version != "v0.9.0" {
		t.Errorf("predicate %+v", p)
	}
	var pod10 *Control
	for i := range p.Controls {
		if p.Controls[i].ID == "POD-10" {
			pod10 = &p.Controls[i]
		}
	}
	if pod10 == nil || len(pod10.Exceptions) != 1 || pod10.Exceptions[0].Name != "sec-142" || pod10.Compliance == nil || pod10.Compliance.Fail != 1 || len(pod10.Checks) != 1 {
		t.Errorf("POD-10 %+v: want its check, compliance and the one exception in force", pod10)
	}
	if strings.Contains(string(detail), "://127.0.0.1") {
		t.Error("the record names the API server")
	}
}

func TestStatementsOfAFailure(t *testing.T) {
	r, b := testReport(false)
	st, err := New(r, b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sum := st.Summary.GetPredicate().AsMap()
	if sum["verificationResult"] != Failed || sum["verifiedLevels"] != nil {
		t.Errorf("summary of a failed verification %v", sum)
	}
	if st.Summary.GetSubject()[0].GetName() != "payments-soc2" {
		t.Errorf("subject without a resource URI: %v", st.Summary.GetSubject())
	}
}

func TestStatementsNeedADigestAndACheckedCluster(t *testing.T) {
	r, b := testReport(true)
	r.Bundle.Digest = ""
	if _, err := New(r, b, Options{}); err == nil || !strings.Contains(err.Error(), "--digest") {
		t.Errorf("no digest: %v", err)
	}
	r, b = testReport(true)
	r.Error = "cluster unreachable"
	if _, err := New(r, b, Options{}); err == nil {
		t.Error("an unchecked cluster has no verification to record")
	}
}
