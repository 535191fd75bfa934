package signature

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"bulwark.dev/bulwark/bundle/oci"
)

// Attestations are also OCI 1.1 referrers of the artifact
// (https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#listing-referrers):
// one manifest per Attest call, its subject the artifact, its layers the DSSE envelopes as
// in the cosign tag, in the layout of cosign's WriteAttestationsReferrer (artifactType
// in-toto). A registry with the referrers API indexes it; on one without, the client adds it
// to the referrers tag schema's index (sha256-<hex>). Every record is then its own immutable
// manifest: two verifications attaching at once cannot drop each other's record, as they
// can in the one read-modify-written cosign tag.
const (
	AttestationArtifactType = InTotoPayloadType
	emptyMediaType          = types.MediaType("application/vnd.oci.empty.v1+json")
)

var emptyJSON = []byte("{}")

// referrerManifest is an OCI 1.1 image manifest with artifactType and subject, written by
// digest.
type referrerManifest struct {
	raw []byte
}

func (r referrerManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r referrerManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// writeReferrer attaches layers to d as one referrer manifest, tagged with a tag of its own
// (referrerTag), and returns its digest. The blobs are uploaded before the manifest, so no
// tag or index ever names a partial upload. Where the referrers tag schema stands in for the
// API, its one index is read, extended and written by the client, without compare-and-swap:
// a concurrent writer can drop this manifest from it. The manifest is put again while the
// index lacks it, a bounded number of times; the record's own tag keeps it findable
// (Attestations lists those tags) whatever becomes of the index.
func writeReferrer(ctx context.Context, c *oci.Client, d name.Digest, layers []v1.Layer, annotations []map[string]string) (v1.Hash, error) {
	subject, err := remote.Head(d, c.RemoteOptions(ctx)...)
	if err != nil {
		return v1.Hash{}, c.WrapError("reading", d, err)
	}
	cfg := static.NewLayer(emptyJSON, emptyMediaType)
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  AttestationArtifactType,
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
	}
	if m.Config, err = descriptorOf(cfg, nil); err != nil {
		return v1.Hash{}, err
	}
	for i, l := range append([]v1.Layer{cfg}, layers...) {
		if err := remote.WriteLayer(d.Context(), l, c.RemoteOptions(ctx)...); err != nil {
			return v1.Hash{}, c.WrapError("writing an attestation to", d.Context(), err)
		}
		if i == 0 {
			continue
		}
		desc, err := descriptorOf(l, annotations[i-1])
		if err != nil {
			return v1.Hash{}, err
		}
		m.Layers = append(m.Layers, desc)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return v1.Hash{}, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, err
	}
	for attempt := 0; ; attempt++ {
		if err := remote.Put(referrerTag(d, h), referrerManifest{raw}, c.RemoteOptions(ctx)...); err != nil {
			return v1.Hash{}, c.WrapError("writing an attestation to", d.Context(), err)
		}
		listed, err := referrers(ctx, c, d)
		if err != nil {
			return v1.Hash{}, err
		}
		for _, desc := range listed {
			if desc.Digest == h {
				return h, nil
			}
		}
		if attempt == contendedAttempts-1 {
			return h, nil
		}
		if err := backOff(ctx, attempt); err != nil {
			return v1.Hash{}, err
		}
	}
}

// contendedAttempts bounds the writes of a tag (or tag-schema index) other writers keep
// replacing; between them a writer waits a random, growing while, so writers that collided
// do not collide again in step.
const contendedAttempts = 10

func backOff(ctx context.Context, attempt int) error {
	wait := time.Duration(25+rand.IntN(100)) * time.Millisecond * time.Duration(attempt+1)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
		return nil
	}
}

// referrerTag is the tag of one attestation referrer: cosign's attestation tag with the
// first 16 hex digits of the referrer's digest, so each record has a tag no other writer
// moves (sha256-<64 hex>.att-<16 hex>, 92 characters of the 128 a tag may have).
func referrerTag(d name.Digest, h v1.Hash) name.Tag {
	return d.Context().Tag(referrerTagPrefix(d) + h.Hex[:16])
}

func referrerTagPrefix(d name.Digest) string { return attestationTag(d).TagStr() + "-" }

func descriptorOf(l v1.Layer, annotations map[string]string) (v1.Descriptor, error) {
	mt, err := l.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	h, err := l.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	n, err := l.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: h, Size: n, Annotations: annotations}, nil
}

// referrers lists d's attestation referrers: from the referrers API where the registry
// serves it, else from the referrers tag schema's index.
func referrers(ctx context.Context, c *oci.Client, d name.Digest) ([]v1.Descriptor, error) {
	idx, err := remote.Referrers(d, append(c.RemoteOptions(ctx), remote.WithFilter("artifactType", AttestationArtifactType))...)
	if err != nil {
		if notFound(err) {
			return nil, nil
		}
		return nil, c.WrapError("listing the referrers of", d, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, c.WrapError("listing the referrers of", d, err)
	}
	var out []v1.Descriptor
	for _, desc := range im.Manifests {
		// The filter is the registry's to apply, and the fallback index holds whatever
		// anyone attached: keep only attestations.
		if desc.ArtifactType == AttestationArtifactType {
			out = append(out, desc)
		}
	}
	return out, nil
}

// referrerAttestations reads the envelopes of every attestation referrer of d — those the
// referrers API or the tag schema's index lists, and those tagged with a referrer tag the
// index lost — up to eight manifests at a time.
func referrerAttestations(ctx context.Context, c *oci.Client, d name.Digest) ([][]Attestation, error) {
	descs, err := referrers(ctx, c, d)
	if err != nil {
		return nil, err
	}
	refs := make([]name.Reference, 0, len(descs))
	indexed := map[string]bool{}
	for _, desc := range descs {
		refs = append(refs, d.Context().Digest(desc.Digest.String()))
		indexed[desc.Digest.Hex[:16]] = true
	}
	tags, err := remote.List(d.Context(), c.RemoteOptions(ctx)...)
	if err != nil && !notFound(err) {
		return nil, c.WrapError("listing the tags of", d.Context(), err)
	}
	prefix := referrerTagPrefix(d)
	for _, tag := range tags {
		if suffix, ok := strings.CutPrefix(tag, prefix); ok && !indexed[suffix] {
			refs = append(refs, d.Context().Tag(tag))
		}
	}
	out := make([][]Attestation, len(refs))
	errs := make([]error, len(refs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			img, err := remote.Image(ref, c.RemoteOptions(ctx)...)
			if notFound(err) {
				// An index or a tag list may still name a manifest someone deleted.
				return
			}
			if err != nil {
				errs[i] = c.WrapError("reading the attestations of", d, err)
				return
			}
			out[i], errs[i] = envelopesOf(img)
			if errs[i] != nil {
				errs[i] = c.WrapError("reading the attestations of", d, errs[i])
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// envelopesOf reads the DSSE envelope layers of an attestation manifest.
func envelopesOf(img v1.Image) ([]Attestation, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	var out []Attestation
	for i, desc := range m.Layers {
		if desc.MediaType != DSSEMediaType || i >= len(layers) {
			continue
		}
		rc, err := layers[i].Compressed()
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(rc, 16<<20))
		rc.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, Attestation{PredicateType: desc.Annotations[PredicateAnnotation], Envelope: body, Digest: desc.Digest})
	}
	return out, nil
}
