package pipeline

import (
	"errors"
	"fmt"
	"time"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/profile"
)

// ParamSpecs converts the catalogue's parameter declarations to the profile's ParamSpecs,
// by control id. Every control has an entry, so a control without parameters admits none.
// A declaration the profile cannot check (an unknown type or format, a bound of the wrong
// kind) is an error: the catalogue is wrong, not the profile.
func ParamSpecs(cat *catalogue.Catalogue) (map[string][]profile.ParamSpec, error) {
	out := make(map[string][]profile.ParamSpec, len(cat.Controls))
	var errs []error
	for _, c := range cat.Controls {
		specs := make([]profile.ParamSpec, 0, len(c.Params))
		for _, p := range c.Params {
			s, err := ParamSpec(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("control %s: %w", c.ID, err))
				continue
			}
			specs = append(specs, s)
		}
		out[c.ID] = specs
	}
	return out, errors.Join(errs...)
}

// ParamSpec converts one catalogue parameter to the profile's ParamSpec.
func ParamSpec(p catalogue.Param) (profile.ParamSpec, error) {
	desc := p.Description
	if p.From != "" {
		desc += " Unset, it is taken from " + p.From + "."
	}
	s := profile.ParamSpec{
		Name:        p.Name,
		Type:        profile.ParamType(p.Type),
		Description: desc,
		Default:     p.Default,
		Enum:        p.Enum,
		Format:      profile.ParamFormat(p.Format),
	}
	var errs []error
	for _, b := range []struct {
		name  string
		value any
		n     **int64
		d     *time.Duration
	}{{"minimum", p.Minimum, &s.Minimum, &s.MinDuration}, {"maximum", p.Maximum, &s.Maximum, &s.MaxDuration}} {
		if b.value == nil {
			continue
		}
		switch s.Type {
		case profile.ParamInt:
			f, ok := b.value.(float64) // JSON numbers
			if !ok || f != float64(int64(f)) {
				errs = append(errs, fmt.Errorf("parameter %s: %s %v is not an integer", p.Name, b.name, b.value))
				continue
			}
			n := int64(f)
			*b.n = &n
		case profile.ParamDuration:
			str, _ := b.value.(string)
			d, err := time.ParseDuration(str)
			if err != nil || d <= 0 {
				errs = append(errs, fmt.Errorf("parameter %s: %s %v is not a positive duration such as 1h", p.Name, b.name, b.value))
				continue
			}
			*b.d = d
		default:
			errs = append(errs, fmt.Errorf("parameter %s: %s applies to int and duration, not %s", p.Name, b.name, p.Type))
		}
	}
	if err := s.Validate(); err != nil {
		errs = append(errs, err)
	}
	return s, errors.Join(errs...)
}

// loadOptions are the profile loader's options for the catalogue: its control ids and
// every control's parameters.
func loadOptions(cat *catalogue.Catalogue) (profile.LoadOptions, error) {
	params, err := ParamSpecs(cat)
	if err != nil {
		return profile.LoadOptions{}, fmt.Errorf("catalogue parameters: %w", err)
	}
	return profile.LoadOptions{KnownControls: cat.IDSet(), Params: params}, nil
}
