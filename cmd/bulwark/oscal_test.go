package main

import (
	"encoding/json"
	"testing"

	oscalTypes "github.com/defenseunicorns/go-oscal/src/types/oscal-1-1-3"

	"bulwark.dev/bulwark/oscal/oscalschema"
)

func TestOSCALComponentDefinitionCommand(t *testing.T) {
	out, errOut, code := run(t, "", "oscal", "component-definition", "-f", "../../examples/payments.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var doc oscalTypes.OscalCompleteSchema
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if err := oscalschema.Validate(&doc); err != nil || doc.ComponentDefinition == nil {
		t.Fatalf("not a valid component definition: %v", err)
	}
	again, _, _ := run(t, "", "oscal", "component-definition", "-f", "../../examples/payments.yaml")
	if again != out {
		t.Error("the same profile gave another document")
	}
	if _, _, code := run(t, "", "oscal", "component-definition", "-f", "../../examples/payments.yaml", "-o", "xml"); code != 2 {
		t.Errorf("-o xml: exit %d, want 2", code)
	}
}
