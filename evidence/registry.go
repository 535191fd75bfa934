package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ita1 "github.com/in-toto/attestation/go/v1"

	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/bundle/signature"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/verify"
)

// Push signs a cluster's statements and attaches them to the bundle digest d in the
// registry, beside the bundle, in the layout cosign verify-attestation reads: the summary and
// the detail in one manifest write, so no reader sees one without the other.
func Push(ctx context.Context, c *oci.Client, d name.Digest, st *Statements, signer signature.Signer) error {
	if st == nil || st.Summary == nil || st.Detail == nil {
		return exitcode.AsBadInput(fmt.Errorf("no statements to attach"))
	}
	summary, err := Marshal(st.Summary)
	if err != nil {
		return err
	}
	detail, err := Marshal(st.Detail)
	if err != nil {
		return err
	}
	for _, s := range []*ita1.Statement{st.Summary, st.Detail} {
		if len(s.GetSubject()) != 1 || "sha256:"+s.GetSubject()[0].GetDigest()["sha256"] != d.DigestStr() {
			return exitcode.AsBadInput(fmt.Errorf("the statements are not about %s alone", d.DigestStr()))
		}
	}
	return signature.Attest(ctx, c, d, []signature.Statement{{Payload: detail, PredicateType: PredicateType}, {Payload: summary, PredicateType: VSAPredicateType}}, signer)
}

// Record is one cluster's verification as stored beside a bundle.
type Record struct {
	Cluster    string    `json:"cluster"`
	ClusterUID string    `json:"clusterUID,omitempty"`
	VerifiedAt time.Time `json:"verifiedAt"`
	Result     string    `json:"result"`
	// Signature says whether the record's signatures hold: "verified" (by the key given),
	// else why not. A record is listed either way; only a verified one is evidence.
	Signature string `json:"signature"`
	// Summarised is set when the record's VSA summary is attached and names this detail
	// statement by its digest.
	Summarised bool `json:"summarised"`
	// Detail is the record's predicate, when its signature holds.
	Detail *Predicate `json:"detail,omitempty"`
}

// Records reads every verification record attached to d, checking each envelope with
// verifier. Envelopes that do not verify, or whose statement is about another digest, are
// listed with the reason and no detail.
func Records(ctx context.Context, c *oci.Client, d name.Digest, verifier signature.Verifier) ([]Record, error) {
	atts, err := signature.Attestations(ctx, c, d)
	if err != nil {
		return nil, err
	}
	want := strings.TrimPrefix(d.DigestStr(), "sha256:")
	summarised := map[string]string{} // detail digest -> summary result
	var details []Record
	var detailDigests []string
	for _, a := range atts {
		payload, err := signature.OpenEnvelope(a.Envelope, verifier)
		if err != nil {
			// Every envelope that fails counts, whatever its (unsigned) layer annotation says,
			// but the summaries, which are not records of their own.
			if a.PredicateType != VSAPredicateType {
				details = append(details, Record{Signature: "refused: " + strings.TrimPrefix(err.Error(), signature.ErrSignature.Error()+": ")})
				detailDigests = append(detailDigests, "")
			}
			continue
		}
		st, err := Unmarshal(payload)
		if err != nil || len(st.GetSubject()) == 0 || st.GetSubject()[0].GetDigest()["sha256"] != want {
			if a.PredicateType != VSAPredicateType {
				details = append(details, Record{Signature: "refused: the signed statement is not about " + d.DigestStr()})
				detailDigests = append(detailDigests, "")
			}
			continue
		}
		switch st.GetPredicateType() {
		case VSAPredicateType:
			m := st.GetPredicate().AsMap()
			inputs, _ := m["inputAttestations"].([]any)
			for _, in := range inputs {
				im, _ := in.(map[string]any)
				dg, _ := im["digest"].(map[string]any)
				if h, _ := dg["sha256"].(string); h != "" {
					r, _ := m["verificationResult"].(string)
					summarised[h] = r
				}
			}
		case PredicateType:
			p, err := DetailOf(st)
			if err != nil {
				details = append(details, Record{Signature: "refused: " + err.Error()})
				detailDigests = append(detailDigests, "")
				continue
			}
			sum := sha256.Sum256(payload)
			details = append(details, Record{Cluster: p.Cluster.Name, ClusterUID: p.Cluster.KubeSystemUID, VerifiedAt: p.VerifiedAt, Result: p.Result, Signature: "verified", Detail: p})
			detailDigests = append(detailDigests, hex.EncodeToString(sum[:]))
		}
	}
	for i := range details {
		if r, ok := summarised[detailDigests[i]]; ok && detailDigests[i] != "" {
			details[i].Summarised = r == details[i].Result
		}
	}
	sort.SliceStable(details, func(i, j int) bool {
		if details[i].Cluster != details[j].Cluster {
			return details[i].Cluster < details[j].Cluster
		}
		return details[i].VerifiedAt.Before(details[j].VerifiedAt)
	})
	return details, nil
}

// Find returns the latest verified record of cluster (a kubeconfig context name, or a
// kube-system UID, which tells apart clusters whose contexts share a name) at or before at
// (zero: the latest).
func Find(records []Record, cluster string, at time.Time) (*Record, error) {
	var found *Record
	refused := 0
	for i := range records {
		r := &records[i]
		if r.Signature != "verified" {
			refused++
			continue
		}
		if (r.Cluster != cluster && r.ClusterUID != cluster) || (!at.IsZero() && r.VerifiedAt.After(at)) {
			continue
		}
		if found == nil || r.VerifiedAt.After(found.VerifiedAt) {
			found = r
		}
	}
	if found == nil {
		msg := fmt.Sprintf("no verified record for cluster %s", cluster)
		if !at.IsZero() {
			msg += " at or before " + at.UTC().Format(time.RFC3339)
		}
		if refused > 0 {
			msg += fmt.Sprintf(" (%d records refused: changed, or signed by another key)", refused)
		}
		return nil, exitcode.AsFailed(fmt.Errorf("%s", msg))
	}
	return found, nil
}

// Reports turns verified records back into verify reports (one finding per check and
// control), for writers that take reports, such as OSCAL assessment results. Records whose
// signature did not hold are left out.
func Reports(records []Record) []*verify.Report {
	var out []*verify.Report
	for _, rec := range records {
		p := rec.Detail
		if rec.Signature != "verified" || p == nil {
			continue
		}
		identity := p.Cluster.ClusterIdentity
		r := &verify.Report{APIVersion: verify.ReportAPIVersion, Kind: verify.ReportKind, Cluster: p.Cluster.Name, Bundle: p.Bundle,
			Converged: p.Result == Passed, CheckedAt: p.VerifiedAt, Identity: &identity, GitOps: p.GitOps, NotApplicable: p.NotApplicable,
			Findings: []verify.Finding{}}
		for _, c := range p.Controls {
			r.Controls = append(r.Controls, verify.ControlResult{ID: c.ID, Title: c.Title, TSC: c.TSC, Status: c.Status, Compliance: c.Compliance})
			for _, ch := range c.Checks {
				r.Findings = append(r.Findings, verify.Finding{Check: ch.Check, Status: ch.Status, Controls: []string{c.ID}, TSC: c.TSC, Object: ch.Object, Message: ch.Message})
			}
		}
		out = append(out, r)
	}
	return out
}
