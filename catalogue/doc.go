// Package catalogue holds Bulwark's control catalogue as embedded data: one YAML file per
// control under controls/, with its SOC 2 mapping, parameters, and the rule content (CEL)
// that the generators wrap into typed policy objects.
package catalogue
