package signature

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/internal/exitcode"
)

// The cosign attestation format that `cosign verify-attestation` and `cosign download
// attestation` read: an image tagged sha256-<digest>.att whose layers each hold a DSSE
// envelope (https://github.com/secure-systems-lab/dsse) of an in-toto statement, signed over
// DSSE's pre-authentication encoding, with the predicate type as a layer annotation.
const (
	DSSEMediaType       types.MediaType = "application/vnd.dsse.envelope.v1+json"
	InTotoPayloadType   string          = "application/vnd.in-toto+json"
	PredicateAnnotation string          = "predicateType"
)

// Envelope is a DSSE envelope.
type Envelope struct {
	PayloadType string         `json:"payloadType"`
	Payload     string         `json:"payload"`
	Signatures  []EnvelopeSign `json:"signatures"`
}

// EnvelopeSign is one signature of an envelope.
type EnvelopeSign struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// pae is DSSE's pre-authentication encoding, what the signature covers: the payload type
// bound to the payload, so neither can be swapped.
func pae(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

func attestationTag(d name.Digest) name.Tag {
	return d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".att")
}

// SignStatement wraps an in-toto statement in a DSSE envelope signed by signer.
func SignStatement(statement []byte, signer Signer) ([]byte, error) {
	sig, err := signer.SignMessage(bytes.NewReader(pae(InTotoPayloadType, statement)))
	if err != nil {
		return nil, fmt.Errorf("signing the statement: %w", err)
	}
	return json.Marshal(Envelope{
		PayloadType: InTotoPayloadType,
		Payload:     base64.StdEncoding.EncodeToString(statement),
		Signatures:  []EnvelopeSign{{Sig: base64.StdEncoding.EncodeToString(sig)}},
	})
}

// OpenEnvelope checks a DSSE envelope's signature with verifier and returns its statement.
// A signature by another key, or an envelope changed after signing, is ErrSignature (exit 1).
func OpenEnvelope(envelope []byte, verifier Verifier) ([]byte, error) {
	var env Envelope
	if err := json.Unmarshal(envelope, &env); err != nil {
		return nil, exitcode.AsFailed(fmt.Errorf("%w: not a DSSE envelope: %v", ErrSignature, err))
	}
	if env.PayloadType != InTotoPayloadType {
		return nil, exitcode.AsFailed(fmt.Errorf("%w: payload type %q, not an in-toto statement", ErrSignature, env.PayloadType))
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, exitcode.AsFailed(fmt.Errorf("%w: the payload is not base64", ErrSignature))
	}
	for _, s := range env.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			continue
		}
		if verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pae(env.PayloadType, payload))) == nil {
			return payload, nil
		}
	}
	return nil, exitcode.AsFailed(fmt.Errorf("%w: no signature of the envelope was made by this key over its content", ErrSignature))
}

// Statement is an in-toto statement to attest, with its predicate type.
type Statement struct {
	Payload       []byte
	PredicateType string
}

// Attest signs statements (in-toto statements about the artifact at d) and attaches them to
// d twice over, both in one manifest each, so no reader sees one statement without the
// others: as an OCI 1.1 referrer (see referrer.go), and in cosign's attestation tag, keeping
// every attestation already attached there, which `cosign verify-attestation` reads. As with
// Sign, only a 404 means there are none yet; the registry stores each manifest whole before
// a tag or index names it.
func Attest(ctx context.Context, c *oci.Client, d name.Digest, statements []Statement, signer Signer) error {
	tag := attestationTag(d)
	var adds []mutate.Addendum
	var layers []v1.Layer
	var annotations []map[string]string
	for _, st := range statements {
		envelope, err := SignStatement(st.Payload, signer)
		if err != nil {
			return err
		}
		l := static.NewLayer(envelope, DSSEMediaType)
		// cosign marks attestation layers with an empty signature annotation: the
		// signature is inside the envelope.
		a := map[string]string{SignatureAnnotation: "", PredicateAnnotation: st.PredicateType}
		adds = append(adds, mutate.Addendum{Layer: l, Annotations: a})
		layers = append(layers, l)
		annotations = append(annotations, a)
	}
	if _, err := writeReferrer(ctx, c, d, layers, annotations); err != nil {
		return err
	}
	// The tag is read, extended and written: another writer in between would have its
	// record dropped by ours, or ours by theirs. After writing, read back; while what the
	// tag holds lacks a layer either side wrote, merge and write again.
	for attempt := 0; ; attempt++ {
		var img v1.Image = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		existing, err := remote.Image(tag, c.RemoteOptions(ctx)...)
		switch {
		case err == nil:
			img = existing
		case !notFound(err):
			return c.WrapError("reading the attestations of", d, err)
		}
		want, err := layerDigests(img)
		if err != nil {
			return c.WrapError("reading the attestations of", d, err)
		}
		have := map[v1.Hash]bool{}
		for _, h := range want {
			have[h] = true
		}
		for _, a := range adds {
			h, err := a.Layer.Digest()
			if err != nil {
				return err
			}
			if !have[h] {
				if img, err = mutate.Append(img, a); err != nil {
					return err
				}
				want = append(want, h)
			}
		}
		if err := remote.Write(tag, img, c.RemoteOptions(ctx)...); err != nil {
			return c.WrapError("writing the attestations of", d, err)
		}
		now, err := remote.Image(tag, c.RemoteOptions(ctx)...)
		if err != nil {
			return c.WrapError("reading back the attestations of", d, err)
		}
		got, err := layerDigests(now)
		if err != nil {
			return c.WrapError("reading back the attestations of", d, err)
		}
		kept := map[v1.Hash]bool{}
		for _, h := range got {
			kept[h] = true
		}
		missing := false
		for _, h := range want {
			missing = missing || !kept[h]
		}
		if !missing {
			return nil
		}
		if attempt == contendedAttempts-1 {
			return fmt.Errorf("attaching to %s: other writers kept replacing the attestations; try again", d)
		}
		if err := backOff(ctx, attempt); err != nil {
			return err
		}
	}
}

func layerDigests(img v1.Image) ([]v1.Hash, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Hash, 0, len(m.Layers))
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out, nil
}

// Attestation is one envelope attached to an artifact.
type Attestation struct {
	// PredicateType is the layer's annotation (checked against the statement by callers).
	PredicateType string
	// Envelope is the DSSE envelope as stored.
	Envelope []byte
	// Digest is the envelope's blob digest: a record found both as a referrer and in the
	// cosign tag is one record.
	Digest v1.Hash
}

// Attestations reads every envelope attached to d, unverified; OpenEnvelope checks each.
// It reads both places Attest writes — the referrers (API or tag schema) and cosign's tag —
// and lists each envelope once: a record that one place lost (a concurrent writer's tag
// update) is still found in the other, and a changed copy in one place is listed beside the
// signed original, not instead of it. An artifact without attestations has none (no error).
func Attestations(ctx context.Context, c *oci.Client, d name.Digest) ([]Attestation, error) {
	groups, err := referrerAttestations(ctx, c, d)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(attestationTag(d), c.RemoteOptions(ctx)...)
	switch {
	case err == nil:
		tagged, err := envelopesOf(img)
		if err != nil {
			return nil, c.WrapError("reading the attestations of", d, err)
		}
		groups = append(groups, tagged)
	case !notFound(err):
		return nil, c.WrapError("reading the attestations of", d, err)
	}
	seen := map[v1.Hash]bool{}
	var out []Attestation
	for _, g := range groups {
		for _, a := range g {
			if !seen[a.Digest] {
				seen[a.Digest] = true
				out = append(out, a)
			}
		}
	}
	return out, nil
}
