// Package profile defines the Bulwark compliance profile API (bulwark.dev/v1alpha1,
// kind Profile), and loads, defaults and validates profiles from YAML.
//
// The package imports none of Bulwark's other packages: callers that know the control
// catalogue pass the set of valid control ids through LoadOptions.
package profile
