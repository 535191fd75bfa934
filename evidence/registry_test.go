package evidence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/bundle/signature"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/evidence"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/pipeline"
	"bulwark.dev/bulwark/verify"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestRecordsBesideTheBundle attaches two clusters' verifications, twice each, to a bundle
// in a real registry — Distribution, without the OCI 1.1 referrers API, and olareg, with it —
// and reads them back: four records, each signature checked, found both as referrers and in
// cosign's tag. A changed copy cannot replace the signed record; a record changed in every
// place, or records read with another key, are refused.
func TestRecordsBesideTheBundle(t *testing.T) {
	testenv.RequireServers(t)
	for _, tc := range []struct {
		name      string
		referrers bool
	}{{"tag schema fallback", false}, {"referrers API", true}} {
		t.Run(tc.name, func(t *testing.T) { recordsBesideTheBundle(t, tc.referrers) })
	}
}

func recordsBesideTheBundle(t *testing.T, referrersAPI bool) {
	ctx := context.Background()
	f := pushedBundle(t, referrersAPI)
	c, d, b, cat, signer, verifier := f.c, f.d, f.b, f.cat, f.signer, f.verifier
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for i, cluster := range []string{"prod-eu", "prod-us", "prod-eu", "prod-us"} {
		if err := evidence.Push(ctx, c, d, statements(t, b, d.DigestStr(), cat.Version, cluster, t0.Add(time.Duration(i)*time.Hour), i != 3), signer); err != nil {
			t.Fatal(err)
		}
	}
	records, err := evidence.Records(ctx, c, d, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 4 {
		t.Fatalf("%d records, want 4: %+v", len(records), records)
	}
	for _, r := range records {
		if r.Signature != "verified" || !r.Summarised || r.Detail == nil {
			t.Errorf("record %+v: want verified and summarised", r)
		}
	}
	if records[3].Cluster != "prod-us" || records[3].Result != evidence.Failed || records[0].Cluster != "prod-eu" {
		t.Errorf("records out of order or results wrong: %+v", records)
	}
	latest, err := evidence.Find(records, "prod-eu", time.Time{})
	if err != nil || !latest.VerifiedAt.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("latest prod-eu record %+v, %v", latest, err)
	}
	earlier, err := evidence.Find(records, "prod-eu", t0.Add(90*time.Minute))
	if err != nil || !earlier.VerifiedAt.Equal(t0) {
		t.Errorf("prod-eu record at t0+90m %+v, %v", earlier, err)
	}

	t.Run("stored as referrers", func(t *testing.T) {
		// Where the registry serves the referrers API it indexes the records and no
		// fallback tag exists; where it does not, the referrers tag schema's index lists them.
		fallback := d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1))
		_, fallbackErr := remote.Index(fallback, c.RemoteOptions(ctx)...)
		resp, err := http.Get("http://" + d.RegistryStr() + "/v2/" + d.Context().RepositoryStr() + "/referrers/" + d.DigestStr())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if referrersAPI != (resp.StatusCode == http.StatusOK) || referrersAPI != (fallbackErr != nil) {
			t.Fatalf("referrers API answered %d, fallback tag %v (registry with the API: %v)", resp.StatusCode, fallbackErr, referrersAPI)
		}
		refs := referrerManifests(t, ctx, c, d)
		if len(refs) != 4 {
			t.Fatalf("%d attestation referrers, want one per verification (4)", len(refs))
		}
		tags, err := remote.List(d.Context(), c.RemoteOptions(ctx)...)
		if err != nil {
			t.Fatal(err)
		}
		own := map[string]bool{}
		for _, tg := range tags {
			own[tg] = true
		}
		for _, m := range refs {
			if want := strings.Replace(d.DigestStr(), ":", "-", 1) + ".att-" + m.Digest.Hex[:16]; !own[want] {
				t.Errorf("referrer %s has no tag of its own (%s)", m.Digest, want)
			}
			if m.Subject == nil || m.Subject.Digest.String() != d.DigestStr() || m.ArtifactType != signature.AttestationArtifactType || len(m.Layers) != 2 {
				t.Errorf("referrer %+v: want subject %s, artifactType %s, the detail and the summary", m, d.DigestStr(), signature.AttestationArtifactType)
			}
		}
	})

	t.Run("another key", func(t *testing.T) {
		_, otherPub, err := signature.GenerateKeyPair([]byte("other"))
		if err != nil {
			t.Fatal(err)
		}
		other, err := signature.LoadVerifier(otherPub)
		if err != nil {
			t.Fatal(err)
		}
		records, err := evidence.Records(ctx, c, d, other)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range records {
			if r.Signature == "verified" || r.Detail != nil {
				t.Errorf("record %+v verified with another key", r)
			}
		}
		if _, err := evidence.Find(records, "prod-eu", time.Time{}); exitcode.Of(err, 0) != exitcode.Failed {
			t.Errorf("find with another key: %v (exit %d), want exit 1", err, exitcode.Of(err, 0))
		}
	})

	// Someone with push rights but not the key rewrites cosign's tag with the first detail
	// envelope's payload changed by one byte.
	tag := d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".att")
	original := rewriteChanged(t, ctx, c, tag)

	t.Run("a changed copy beside the signed record", func(t *testing.T) {
		records, err := evidence.Records(ctx, c, d, verifier)
		if err != nil {
			t.Fatal(err)
		}
		if refused(records) != 1 || len(records) != 5 {
			t.Fatalf("records after the tag's copy changed: %+v", records)
		}
		// The referrer still holds the signed record: the changed copy is listed refused
		// beside it, and cannot stand in for it.
		if r, err := evidence.Find(records, "prod-eu", t0.Add(90*time.Minute)); err != nil || !r.VerifiedAt.Equal(t0) {
			t.Errorf("the signed record after its tag copy changed: %+v, %v", r, err)
		}
	})

	t.Run("one byte changed in every copy", func(t *testing.T) {
		// ... and replaces the referrer that holds the original with a changed one.
		for _, m := range referrerManifests(t, ctx, c, d) {
			if m.Layers[0].Digest != original {
				continue
			}
			ref := d.Context().Digest(m.Digest.String())
			img, err := remote.Image(ref, c.RemoteOptions(ctx)...)
			if err != nil {
				t.Fatal(err)
			}
			layers, _ := img.Layers()
			changed := static.NewLayer(changeOneByte(t, layers[0]), m.Layers[0].MediaType)
			if err := remote.WriteLayer(d.Context(), changed, c.RemoteOptions(ctx)...); err != nil {
				t.Fatal(err)
			}
			forged := m.Manifest
			forged.Layers = append([]v1.Descriptor(nil), m.Layers...)
			forged.Layers[0].Digest, _ = changed.Digest()
			forged.Layers[0].Size, _ = changed.Size()
			raw, _ := json.Marshal(forged)
			h, _, _ := v1.SHA256(bytes.NewReader(raw))
			if err := remote.Put(d.Context().Digest(h.String()), rawManifest(raw), c.RemoteOptions(ctx)...); err != nil {
				t.Fatal(err)
			}
			if err := remote.Delete(ref, c.RemoteOptions(ctx)...); err != nil {
				t.Fatal(err)
			}
		}
		records, err := evidence.Records(ctx, c, d, verifier)
		if err != nil {
			t.Fatal(err)
		}
		if refused(records) != 1 || len(records) != 4 {
			t.Fatalf("records after one byte changed everywhere: %+v", records)
		}
		// The changed record was prod-eu's first: asking for it is refused.
		if _, err := evidence.Find(records, "prod-eu", t0.Add(90*time.Minute)); exitcode.Of(err, 0) != exitcode.Failed || !strings.Contains(err.Error(), "1 records refused") {
			t.Errorf("finding the changed record: %v", err)
		}
	})
}

// TestConcurrentVerificationsKeepEveryRecord: verifications of several clusters attaching
// at once to one bundle each keep their record, on both registries. With the referrers API
// every record is its own manifest the registry indexes; with the tag schema, whose one
// index (like cosign's tag) is read-modify-written without compare-and-swap, which
// Distribution does not offer, every record also has a tag of its own that no other writer
// moves.
func TestConcurrentVerificationsKeepEveryRecord(t *testing.T) {
	testenv.RequireServers(t)
	for _, tc := range []struct {
		name      string
		referrers bool
	}{{"tag schema fallback", false}, {"referrers API", true}} {
		t.Run(tc.name, func(t *testing.T) { concurrentVerifications(t, tc.referrers) })
	}
}

func concurrentVerifications(t *testing.T, referrersAPI bool) {
	ctx := context.Background()
	f := pushedBundle(t, referrersAPI)
	c, d, b, cat, signer, verifier := f.c, f.d, f.b, f.cat, f.signer, f.verifier
	const writers = 8
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		st := statements(t, b, d.DigestStr(), cat.Version, fmt.Sprintf("cluster-%d", i), time.Date(2026, 11, 24, 12, i, 0, 0, time.UTC), true)
		go func() { errs <- evidence.Push(ctx, c, d, st, signer) }()
	}
	for i := 0; i < writers; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	records, err := evidence.Records(ctx, c, d, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != writers || refused(records) != 0 {
		t.Fatalf("%d records after %d concurrent verifications: %+v", len(records), writers, records)
	}
}

// fixture is a bundle pushed to a real registry (with or without the referrers API) and a
// key pair to sign its records.
type fixture struct {
	c        *oci.Client
	d        name.Digest
	b        *bundle.Bundle
	cat      *catalogue.Catalogue
	signer   signature.Signer
	verifier signature.Verifier
}

func pushedBundle(t *testing.T, referrersAPI bool) fixture {
	t.Helper()
	p, cat, err := pipeline.Load(filepath.Join("..", "examples", "payments.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pipeline.Build(p, cat, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{Referrers: referrersAPI})
	c, err := oci.New()
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Push(context.Background(), b, reg.Ref("policies/payments:1.0.0"), oci.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := signature.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signature.LoadSigner(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := signature.LoadVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{c, d, b, cat, signer, verifier}
}

func statements(t *testing.T, b *bundle.Bundle, digest, catalogue, cluster string, at time.Time, converged bool) *evidence.Statements {
	t.Helper()
	r := &verify.Report{Cluster: cluster, Converged: converged, CheckedAt: at,
		Bundle:   verify.BundleRef{Profile: "payments-soc2", Version: "1.0.0", Digest: digest, Framework: "soc2", Catalogue: catalogue},
		Identity: &verify.ClusterIdentity{ServerSHA256: strings.Repeat("0", 64), KubeSystemUID: cluster + "-uid"},
		Controls: []verify.ControlResult{{ID: "NET-01", TSC: []string{"CC6.6"}, Status: verify.Pass}}}
	st, err := evidence.New(r, b, evidence.Options{ResourceURI: "oci://example/policies/payments", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func refused(records []evidence.Record) int {
	n := 0
	for _, r := range records {
		if r.Signature != "verified" {
			n++
		}
	}
	return n
}

type referrer struct {
	v1.Manifest
	Digest v1.Hash
}

func referrerManifests(t *testing.T, ctx context.Context, c *oci.Client, d name.Digest) []referrer {
	t.Helper()
	idx, err := remote.Referrers(d, c.RemoteOptions(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []referrer
	for _, desc := range im.Manifests {
		if desc.ArtifactType != signature.AttestationArtifactType {
			continue
		}
		img, err := remote.Image(d.Context().Digest(desc.Digest.String()), c.RemoteOptions(ctx)...)
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, referrer{*m, desc.Digest})
	}
	return out
}

type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error)        { return r, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// changeOneByte is the DSSE envelope in l with one character of its payload (base64 JSON)
// changed.
func changeOneByte(t *testing.T, l v1.Layer) []byte {
	t.Helper()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	body := string(raw)
	at := strings.Index(body, `"payload":"`) + len(`"payload":"`) + 40
	ch := byte('A')
	if body[at] == 'A' {
		ch = 'B'
	}
	return []byte(body[:at] + string(ch) + body[at+1:])
}

// rewriteChanged writes cosign's attestation tag again with its first envelope's payload
// changed by one byte, and returns the digest of the envelope it changed.
func rewriteChanged(t *testing.T, ctx context.Context, c *oci.Client, tag name.Tag) v1.Hash {
	t.Helper()
	img, err := remote.Image(tag, c.RemoteOptions(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	layers, _ := img.Layers()
	var rebuilt v1.Image = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for i, l := range layers {
		var body []byte
		if i == 0 {
			body = changeOneByte(t, l)
		} else {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			body, err = io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		rebuilt, err = mutate.Append(rebuilt, mutate.Addendum{Layer: static.NewLayer(body, m.Layers[i].MediaType), Annotations: m.Layers[i].Annotations})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := remote.Write(tag, rebuilt, c.RemoteOptions(ctx)...); err != nil {
		t.Fatal(err)
	}
	return m.Layers[0].Digest
}
