package confref

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/breakwater/breakwater/internal/ordjson"
)

// SchemaID is the $id of the schema (where the repository publishes it).
const SchemaID = "https://raw.githubusercontent.com/breakwater/breakwater/main/docs/breakwater.schema.json"

// obj is a JSON object that keeps its keys in insertion order; kv is one
// of its members.
type (
	obj = ordjson.Object
	kv  = ordjson.Member
)

// Go duration syntax: an optional "+", then one or more number+unit.
const durationPattern = `^\+?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`

// token is an RFC 9110 token.
const tokenPattern = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"

// ci makes a case-insensitive ECMA-262 pattern of a literal made of
// letters, digits and "-".
func ci(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' {
			b.WriteString("[" + string(c-32) + string(c) + "]")
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}

func ref(name string) obj { return obj{{"$ref", "#/$defs/" + name}} }

// defName is the $defs name of a block.
func defName(path string) string {
	s := strings.ReplaceAll(path, "[]", "")
	s = strings.ReplaceAll(s, ".*", ".NAME")
	return s
}

// definitions shared by the fields.
func sharedDefs() obj {
	return obj{
		{"name", obj{{"type", "string"}, {"pattern", "^[a-z0-9_-]{1,64}$"}}},
		{"duration", obj{{"description", "A Go duration string: \"250ms\", \"2s\", \"1m\", \"1h30m\"; positive."},
			{"type", "string"}, {"allOf", []any{obj{{"pattern", durationPattern}}, obj{{"pattern", "[1-9]"}}}}}},
		{"durationOrZero", obj{{"description", "A Go duration string, or zero (\"0s\")."},
			{"type", "string"}, {"anyOf", []any{obj{{"pattern", durationPattern}}, obj{{"pattern", `^\+?0$`}}}}}},
		{"headerName", obj{{"type", "string"}, {"pattern", tokenPattern}, {"maxLength", 256}}},
		{"keyPart", obj{{"description", "header:NAME, path, method, authority, remote_address, property:a.b.c or const:VALUE"},
			{"type", "string"},
			{"pattern", `^(path|method|authority|remote_address|header:[!#$%&'*+.^_` + "`" + `|~0-9A-Za-z-]{1,256}|property:[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*|const:[^\x00-\x1f\x7f]{1,256})$`}}},
		{"status", obj{{"type", "integer"}, {"minimum", 200}, {"maximum", 599}}},
	}
}

func num(f float64) json.Number { return json.Number(strconv.FormatFloat(f, 'f', -1, 64)) }

func rangeKeywords(o obj, r *Range) obj {
	if r == nil {
		return o
	}
	if r.LoOpen {
		o = o.Set("exclusiveMinimum", num(r.Lo))
	} else {
		o = o.Set("minimum", num(r.Lo))
	}
	if r.HiOpen {
		o = o.Set("exclusiveMaximum", num(r.Hi))
	} else {
		o = o.Set("maximum", num(r.Hi))
	}
	return o
}

// fieldSchema is the schema of one field's value.
func fieldSchema(f Field) obj {
	var o obj
	switch f.Kind {
	case String:
		o = obj{{"type", "string"}}
		if f.MaxLen > 0 {
			pat := `^[^\x00-\x1f\x7f]*$`
			if f.Pattern != "" {
				pat = f.Pattern
			}
			o = append(o, kv{"minLength", 1}, kv{"maxLength", f.MaxLen}, kv{"pattern", pat})
		} else if f.Pattern != "" {
			o = append(o, kv{"pattern", f.Pattern})
		}
	case Name:
		o = ref("name")
	case Enum:
		o = obj{{"enum", f.Enum}}
	case Integer:
		o = rangeKeywords(obj{{"type", "integer"}}, f.Range)
	case Number:
		o = rangeKeywords(obj{{"type", "number"}}, f.Range)
	case Boolean:
		o = obj{{"type", "boolean"}}
	case Const:
		o = obj{{"const", json.RawMessage(f.Enum[0])}}
	case Duration:
		if f.ZeroOK {
			o = ref("durationOrZero")
		} else {
			o = ref("duration")
		}
	case PathString:
		o = obj{{"type", "string"}, {"pattern", `^/[^?# \x00-\x1f\x7f]*$`}, {"maxLength", 4096}}
	case Regex:
		o = obj{{"type", "string"}, {"format", "regex"}, {"minLength", 1}, {"maxLength", 4096}}
	case HeaderName:
		o = ref("headerName")
	case Object:
		o = ref(defName(f.Ref))
	case ObjectArray:
		o = obj{{"type", "array"}, {"minItems", 1}}
		if f.Key == "headers" {
			o = append(o, kv{"maxItems", 64})
		}
		o = append(o, kv{"items", ref(defName(f.Ref))})
	case ObjectMap:
		o = obj{{"type", "object"}, {"minProperties", 1},
			{"propertyNames", obj{{"minLength", 1}, {"maxLength", 256}, {"pattern", `^[^\x00-\x1f\x7f]*$`}}},
			{"additionalProperties", ref(defName(f.Ref))}}
	case StringMap:
		reserved := "^" + ci("x-breakwater-") + "|^" + ci("content-length") + "$|^" + ci("transfer-encoding") + "$"
		o = obj{{"type", "object"}, {"maxProperties", 64},
			{"propertyNames", obj{{"$ref", "#/$defs/headerName"}, {"not", obj{{"pattern", reserved}}}}},
			{"additionalProperties", obj{{"type", "string"}, {"pattern", `^[^\r\n\x00]*$`}}}}
	case KeyParts:
		o = obj{{"type", "array"}, {"maxItems", 16}, {"uniqueItems", true}, {"items", ref("keyPart")}}
	case KeyPart:
		o = ref("keyPart")
	case StatusList:
		o = obj{{"type", "array"}, {"uniqueItems", true}, {"items", ref("status")}}
	case MethodList:
		o = obj{{"type", "array"}, {"minItems", 1}, {"maxItems", 64}, {"uniqueItems", true},
			{"items", obj{{"type", "string"}, {"pattern", tokenPattern}, {"maxLength", 32}}}}
	case EnumList:
		o = obj{{"type", "array"}, {"minItems", 1}, {"uniqueItems", true}, {"items", obj{{"enum", f.Enum}}}}
	case HeaderList:
		o = obj{{"type", "array"}, {"maxItems", 64}, {"uniqueItems", true}, {"items", ref("headerName")}}
	case CountOrDuration:
		o = obj{{"oneOf", []any{rangeKeywords(obj{{"type", "integer"}}, f.Range), ref("duration")}}}
	}
	desc := f.Doc
	if d := DefaultText(f); d != "" {
		desc += " " + d
	}
	o = append(obj{{"description", desc}}, o...)
	if f.Default != "" && f.Derived == "" {
		o = append(o, kv{"default", json.RawMessage(f.Default)})
	}
	return o
}

// DefaultText says, in one sentence for the schema's descriptions, what an
// absent field means ("" for a required field).
func DefaultText(f Field) string {
	switch {
	case f.Derived != "":
		return "Default: " + plain(f.Derived) + "."
	case f.Default != "":
		return "Default: " + f.Default + "."
	case f.Absent != "":
		return "Absent: " + plain(f.Absent) + "."
	}
	return ""
}

func plain(s string) string { return strings.ReplaceAll(s, "`", "") }

// blockRules are the cross-field rules a schema can express, per block.
func blockRules(path string) obj {
	switch path {
	case "policies[].match":
		return obj{{"not", obj{{"anyOf", []any{
			obj{{"required", []string{"path_prefix", "path_exact"}}},
			obj{{"required", []string{"path_prefix", "path_regex"}}},
			obj{{"required", []string{"path_exact", "path_regex"}}},
		}}}}}
	case "policies[].match.headers[]":
		return obj{{"oneOf", []any{
			obj{{"required", []string{"exact"}}}, obj{{"required", []string{"prefix"}}}, obj{{"required", []string{"present"}}},
		}}}
	case "policies[].rate_limit":
		global := obj{{"properties", obj{{"limits", obj{{"contains", obj{{"properties", obj{{"scope", obj{{"const", "global"}}}}}, {"required", []string{"scope"}}}}}}}}}
		return obj{{"if", global}, {"then", obj{{"required", []string{"service"}}}}, {"else", obj{{"not", obj{{"required", []string{"service"}}}}}}}
	case "policies[].rate_limit.limits[]":
		isGlobal := obj{{"properties", obj{{"scope", obj{{"const", "global"}}}}}, {"required", []string{"scope"}}}
		windowAlg := obj{{"properties", obj{{"algorithm", obj{{"enum", []string{"fixed_window", "sliding_window"}}}}}}, {"required", []string{"algorithm"}}}
		leaky := obj{{"properties", obj{{"algorithm", obj{{"const", "leaky_bucket"}}}}}, {"required", []string{"algorithm"}}}
		return obj{{"allOf", []any{
			obj{{"if", isGlobal},
				{"then", obj{{"required", []string{"descriptor_key", "key"}}, {"properties", obj{{"key", obj{{"minItems", 1}}}}}, {"not", obj{{"required", []string{"tier"}}}}}},
				{"else", obj{{"required", []string{"requests", "per"}}, {"not", obj{{"required", []string{"descriptor_key"}}}}}}},
			obj{{"if", windowAlg}, {"then", obj{{"not", obj{{"required", []string{"burst"}}}}}}},
			obj{{"if", leaky}, {"then", obj{{"required", []string{"max_delay"}}}}, {"else", obj{{"not", obj{{"required", []string{"max_delay"}}}}}}},
		}}}
	case "policies[].circuit_breaker":
		return obj{{"dependentRequired", obj{{"slow_call_rate_threshold", []string{"slow_call_duration"}}}}}
	case "policies[].circuit_breaker.window":
		count := obj{{"properties", obj{{"type", obj{{"const", "count"}}}}}}
		return obj{{"if", count},
			{"then", obj{{"properties", obj{{"size", obj{{"type", "integer"}}}}}, {"not", obj{{"required", []string{"buckets"}}}}}},
			{"else", obj{{"properties", obj{{"size", obj{{"type", "string"}}}}}}}}
	case "policies[].retry":
		codes := obj{{"properties", obj{{"retry_on", obj{{"contains", obj{{"const", "retriable-status-codes"}}}}}}}, {"required", []string{"retry_on"}}}
		return obj{{"if", codes},
			{"then", obj{{"required", []string{"retriable_status_codes"}}, {"properties", obj{{"retriable_status_codes", obj{{"minItems", 1}}}}}}},
			{"else", obj{{"not", obj{{"required", []string{"retriable_status_codes"}}}}}}}
	case "policies[].retry.budget":
		return obj{{"not", obj{{"properties", obj{{"ratio", obj{{"const", 0}}}, {"min_per_second", obj{{"const", 0}}}}}, {"required", []string{"ratio", "min_per_second"}}}}}
	case "policies[].timeout":
		return obj{{"minProperties", 1}, {"dependentRequired", obj{{"adaptive", []string{"request"}}}}}
	case "policies[].fallback":
		return obj{{"anyOf", []any{
			obj{{"required", []string{"status"}}}, obj{{"required", []string{"headers"}}},
			obj{{"required", []string{"body"}}}, obj{{"required", []string{"stale"}}},
		}}}
	case "policies[].fault":
		return obj{{"anyOf", []any{obj{{"required", []string{"abort"}}}, obj{{"required", []string{"delay"}}}}}}
	}
	return nil
}

func blockSchema(b Block) obj {
	o := obj{{"type", "object"}}
	if b.Path != "" {
		o = append(obj{{"title", b.Title}, {"description", plain(b.Doc)}}, o...)
	}
	props := obj{}
	var required []string
	for _, f := range b.Fields {
		props = append(props, kv{f.Key, fieldSchema(f)})
		if f.Required {
			required = append(required, f.Key)
		}
	}
	o = append(o, kv{"properties", props})
	if len(required) > 0 {
		o = append(o, kv{"required", required})
	}
	o = append(o, kv{"additionalProperties", false})
	o = append(o, blockRules(b.Path)...)
	var ex any
	if err := json.Unmarshal([]byte(b.Example), &ex); err == nil && b.Path != "" {
		o = append(o, kv{"examples", []json.RawMessage{compact(b.Example)}})
	}
	return o
}

func compact(s string) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return json.RawMessage(`null`)
	}
	return b.Bytes()
}

// Schema renders the JSON Schema (draft 2020-12) of the configuration.
func Schema() ([]byte, error) {
	root := Blocks[0]
	o := obj{
		{"$schema", "https://json-schema.org/draft/2020-12/schema"},
		{"$id", SchemaID},
		{"title", "Breakwater plugin configuration"},
		{"description", "Generated from internal/confref (go generate ./internal/confref); the reference is docs/configuration.md. The schema checks types, keys, bounds and the simple cross-field rules; breakwater validate checks everything."},
	}
	o = append(o, blockSchema(root)...)
	defs := sharedDefs()
	for _, b := range Blocks[1:] {
		defs = append(defs, kv{defName(b.Path), blockSchema(b)})
	}
	o = append(o, kv{"$defs", defs})
	raw, err := ordjson.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("confref: schema: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("confref: schema: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
