package admin

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/BurntSushi/toml"

	"github.com/tenement/ten/runtime/config"
)

// EffectiveTOML renders the effective configuration as tenement.toml, with
// the key names users write (the JSON tags, which match the file's keys) and
// every table sorted, so two runs print identical text.
func EffectiveTOML(cfg *config.Config) ([]byte, error) {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	delete(tree, "path") // where it came from is not a config key
	var buf bytes.Buffer
	if cfg.Path != "" {
		fmt.Fprintf(&buf, "# effective configuration of %s\n", cfg.Path)
	}
	if err := toml.NewEncoder(&buf).Encode(normalize(tree)); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return buf.Bytes(), nil
}

// normalize turns JSON numbers back into integers or floats and drops nulls,
// which TOML cannot express.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e == nil {
				delete(v, k)
				continue
			}
			v[k] = normalize(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = normalize(e)
		}
		return v
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	default:
		return v
	}
}
