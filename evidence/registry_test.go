package evidence_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/bundle/signature"
	"bulwark.dev/bulwark/evidence"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/pipeline"
	"bulwark.dev/bulwark/verify"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestRecordsBesideTheBundle attaches two clusters' verifications, twice each, to a bundle
// in a real registry and reads them back: four records, each signature checked; a record
// with one byte changed, or records read with another key, are refused.
func TestRecordsBesideTheBundle(t *testing.T) {
	testenv.RequireServers(t)
	ctx := context.Background()
	p, cat, err := pipeline.Load(filepath.Join("..", "examples", "payments.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pipeline.Build(p, cat, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	c, err := oci.New()
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Push(ctx, b, reg.Ref("policies/payments:1.0.0"), oci.PushOptions{})
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
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for i, cluster := range []string{"prod-eu", "prod-us", "prod-eu", "prod-us"} {
		r := &verify.Report{Cluster: cluster, Converged: i != 3, CheckedAt: t0.Add(time.Duration(i) * time.Hour),
			Bundle:   verify.BundleRef{Profile: "payments-soc2", Version: "1.0.0", Digest: d.DigestStr(), Framework: "soc2", Catalogue: cat.Version},
			Identity: &verify.ClusterIdentity{ServerSHA256: strings.Repeat("0", 64), KubeSystemUID: cluster + "-uid"},
			Controls: []verify.ControlResult{{ID: "NET-01", TSC: []string{"CC6.6"}, Status: verify.Pass}}}
		st, err := evidence.New(r, b, evidence.Options{ResourceURI: "oci://" + d.Context().String(), Version: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if err := evidence.Push(ctx, c, d, st, signer); err != nil {
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

	t.Run("one byte changed", func(t *testing.T) {
		// Rewrite the attestation image with the first detail envelope's payload changed by
		// one byte, as someone with push rights but not the key could.
		tag := d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".att")
		img, err := remote.Image(tag, c.RemoteOptions(ctx)...)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := img.Manifest()
		layers, _ := img.Layers()
		var rebuilt v1.Image = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		for i, l := range layers {
			rc, err := l.Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			body := string(raw)
			if i == 0 {
				// The payload is base64 JSON; flip one character of it.
				at := strings.Index(body, `"payload":"`) + len(`"payload":"`) + 40
				ch := byte('A')
				if body[at] == 'A' {
					ch = 'B'
				}
				body = body[:at] + string(ch) + body[at+1:]
			}
			rebuilt, err = mutate.Append(rebuilt, mutate.Addendum{Layer: static.NewLayer([]byte(body), m.Layers[i].MediaType), Annotations: m.Layers[i].Annotations})
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := remote.Write(tag, rebuilt, c.RemoteOptions(ctx)...); err != nil {
			t.Fatal(err)
		}
		records, err := evidence.Records(ctx, c, d, verifier)
		if err != nil {
			t.Fatal(err)
		}
		refused := 0
		for _, r := range records {
			if r.Signature != "verified" {
				refused++
			}
		}
		if refused != 1 || len(records) != 4 {
			t.Fatalf("records after one byte changed: %+v", records)
		}
		// The changed record was prod-eu's first: asking for it is refused.
		if _, err := evidence.Find(records, "prod-eu", t0.Add(90*time.Minute)); exitcode.Of(err, 0) != exitcode.Failed || !strings.Contains(err.Error(), "1 records refused") {
			t.Errorf("finding the changed record: %v", err)
		}
	})
}
