package catalogue

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// CELString quotes s as a CEL string literal: Go's escapes are a subset of CEL's.
func CELString(s string) string { return strconv.Quote(s) }

// CELList renders strings as a CEL list literal.
func CELList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = CELString(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// CELLiteral renders a value decoded from YAML or JSON as a CEL literal.
func CELLiteral(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "null", nil
	case string:
		return CELString(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10), nil
		}
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case []string:
		return CELList(x), nil
	case []any:
		parts := make([]string, len(x))
		for i, item := range x {
			s, err := CELLiteral(item)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			s, err := CELLiteral(x[k])
			if err != nil {
				return "", err
			}
			parts[i] = CELString(k) + ": " + s
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	}
	return "", fmt.Errorf("cannot express %T as a CEL literal", v)
}
