// Package oscalschema checks documents against the official NIST OSCAL JSON schema, for
// the tests of every package that writes OSCAL. The commands do not link it: its schema
// compiler builds every JSON Schema draft's meta-schema in its package init, 7 ms and 3 MB
// at each start of every command, to guard documents the tests already hold to the schema
// (each writer's every path, and fuzzed free text).
package oscalschema

import (
	"encoding/json"
	"fmt"

	"github.com/defenseunicorns/go-oscal/src/pkg/validation"
	oscalTypes "github.com/defenseunicorns/go-oscal/src/types/oscal-1-1-3"
)

// Version is the OSCAL version documents are checked against.
const Version = "1.1.3"

// Validate checks doc against the official OSCAL schema of Version.
func Validate(doc *oscalTypes.OscalCompleteSchema) error {
	data, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return ValidateJSON(data)
}

// ValidateJSON checks an OSCAL document's JSON against the schema of Version.
func ValidateJSON(data []byte) error {
	v, err := validation.NewValidatorDesiredVersion(data, Version)
	if err != nil {
		return fmt.Errorf("OSCAL validator: %w", err)
	}
	if err := v.Validate(); err != nil {
		detail := ""
		if res, rerr := v.GetValidationResult(); rerr == nil {
			if b, jerr := json.Marshal(res.Errors); jerr == nil {
				detail = ": " + string(b)
			}
		}
		return fmt.Errorf("the document is not valid OSCAL %s%s: %w", Version, detail, err)
	}
	return nil
}
