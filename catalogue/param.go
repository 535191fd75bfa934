package catalogue

import (
	"fmt"
	"time"
)

// CELParam checks value against the parameter's type and renders it as a CEL literal, so a
// profile cannot smuggle an expression into a policy through a parameter.
func CELParam(p Param, value any) (string, error) {
	switch p.Type {
	case "string":
		s, ok := value.(string)
		if !ok {
			return "", fmt.Errorf("want a string, got %T", value)
		}
		return CELString(s), nil
	case "duration":
		s, ok := value.(string)
		if !ok {
			return "", fmt.Errorf("want a duration such as 2160h, got %T", value)
		}
		if _, err := time.ParseDuration(s); err != nil {
			return "", fmt.Errorf("want a duration such as 2160h: %v", err)
		}
		return CELString(s), nil
	case "bool":
		b, ok := value.(bool)
		if !ok {
			return "", fmt.Errorf("want true or false, got %T", value)
		}
		return fmt.Sprint(b), nil
	case "int":
		switch n := value.(type) {
		case int:
			return fmt.Sprint(n), nil
		case int64:
			return fmt.Sprint(n), nil
		case float64:
			if n == float64(int64(n)) {
				return fmt.Sprint(int64(n)), nil
			}
		}
		return "", fmt.Errorf("want an integer, got %v", value)
	case "stringList":
		var items []string
		switch l := value.(type) {
		case []string:
			items = l
		case []any:
			for _, x := range l {
				s, ok := x.(string)
				if !ok {
					return "", fmt.Errorf("want a list of strings, got an item of type %T", x)
				}
				items = append(items, s)
			}
		case nil:
		default:
			return "", fmt.Errorf("want a list of strings, got %T", value)
		}
		return CELList(items), nil
	}
	return "", fmt.Errorf("unknown parameter type %q", p.Type)
}
