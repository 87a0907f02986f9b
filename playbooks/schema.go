package playbooks

import (
	"encoding/json"
	"reflect"
)

// SchemaID is where editors may find the schema; cairn playbooks schema
// prints the same document.
const SchemaID = "https://cairn.dev/schemas/cairn-v1.json"

type obj = map[string]any

// scalar is what the loader takes for a string field: any YAML scalar, as
// its text.
var scalar = obj{"type": []string{"string", "number", "boolean", "null"}}

var duration = obj{"type": []string{"string", "null"}, "pattern": `^\s*-?([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+\s*$|^\s*0\s*$`,
	"description": "a duration such as 30s, 5m or 1h30m"}

// Schema is a JSON Schema (draft-07) of cairn/v1 playbooks with kinds'
// params: built from the Go types the loader decodes them into, by the
// loader's own field rules, so an editor checks and completes what cairn
// accepts. The loader checks more (references, ids, secrets); the schema
// is for editing, not a replacement for cairn validate.
func Schema(kinds interface {
	KindRegistry
	KindNamer
}) ([]byte, error) {
	defs := obj{}
	var kindNames, sourceNames []string
	for _, name := range kinds.KindNames() {
		spec, _ := kinds.Kind(name)
		defs["kind:"+name] = paramsSchema(reflect.TypeOf(spec.NewParams()))
		kindNames = append(kindNames, name)
	}
	for _, name := range kinds.SourceNames() {
		spec, _ := kinds.Source(name)
		defs["source:"+name] = paramsSchema(reflect.TypeOf(spec.NewParams()))
		sourceNames = append(sourceNames, name)
	}
	action := obj{"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": false, "properties": refs("kind:", kindNames)}
	defs["action"] = action
	defs["param"] = obj{"type": "object", "additionalProperties": false, "properties": obj{
		"type":        obj{"enum": []string{"string", "int", "bool", "list", "duration"}},
		"description": scalar, "required": obj{"type": "boolean"}, "default": obj{},
		"secret": obj{"type": "boolean"}, "enum": obj{"type": "array", "items": scalar}, "pattern": obj{"type": "string"},
	}}
	defs["foreach"] = obj{"oneOf": []any{
		obj{"type": "array", "minItems": 1, "items": scalar},
		obj{"type": "string", "pattern": `^\$\{params\.[A-Za-z][A-Za-z0-9_-]*\}$`},
		obj{"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": false, "properties": refs("source:", sourceNames)},
	}}
	id := obj{"type": "string", "pattern": idRE.String()}
	common := obj{
		"id": id, "description": scalar, "foreach": obj{"$ref": "#/definitions/foreach"},
		"maxParallel": obj{"type": "integer", "minimum": 1, "maximum": MaxParallelLimit}, "when": scalar,
		"retry": obj{"type": []string{"object", "null"}, "additionalProperties": false, "properties": obj{
			"attempts": obj{"type": "integer", "minimum": 1}, "initialBackoff": duration, "maxBackoff": duration}},
		"timeout": duration, "check": obj{"$ref": "#/definitions/action"}, "undo": obj{"$ref": "#/definitions/action"},
		"undoFailed": obj{"type": "boolean"}, "irreversible": obj{"type": "string"},
	}
	stepProps := refs("kind:", kindNames)
	for k, v := range common {
		stepProps[k] = v
	}
	exactlyOne := make([]any, 0, len(kindNames))
	for _, k := range kindNames {
		exactlyOne = append(exactlyOne, obj{"required": []string{k}})
	}
	defs["step"] = obj{"type": "object", "required": []string{"id"}, "additionalProperties": false,
		"properties": stepProps, "oneOf": exactlyOne}
	defs["group"] = obj{"type": "object", "required": []string{"id", "steps"}, "additionalProperties": false,
		"properties": obj{"id": id, "description": scalar, "foreach": obj{"$ref": "#/definitions/foreach"},
			"maxParallel": common["maxParallel"], "when": scalar,
			"steps": obj{"type": "array", "minItems": 1, "items": obj{"$ref": "#/definitions/step"}}}}
	doc := obj{
		"$schema": "http://json-schema.org/draft-07/schema#", "$id": SchemaID,
		"title": "cairn playbook (apiVersion cairn/v1)", "type": "object", "additionalProperties": false,
		"required": []string{"apiVersion", "kind", "metadata", "steps"},
		"properties": obj{
			"apiVersion": obj{"const": "cairn/v1"}, "kind": obj{"const": "Playbook"},
			"metadata": obj{"type": "object", "required": []string{"name"}, "additionalProperties": false,
				"properties": obj{"name": obj{"type": "string", "pattern": nameRE.String()}, "description": scalar}},
			"params": obj{"type": []string{"object", "null"}, "additionalProperties": obj{"$ref": "#/definitions/param"}},
			"steps": obj{"type": "array", "items": obj{"if": obj{"required": []string{"steps"}},
				"then": obj{"$ref": "#/definitions/group"}, "else": obj{"$ref": "#/definitions/step"}}},
		},
		"definitions": defs,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	return append(b, '\n'), err
}

func refs(prefix string, names []string) obj {
	out := obj{}
	for _, n := range names {
		out[n] = obj{"$ref": "#/definitions/" + prefix + n}
	}
	return out
}

// paramsSchema follows decoder.decode: what it accepts for each Go type.
func paramsSchema(t reflect.Type) obj {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		return duration
	}
	switch t.Kind() {
	case reflect.String:
		return scalar
	case reflect.Bool:
		return obj{"type": []string{"boolean", "null"}}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return obj{"type": []string{"integer", "null"}}
	case reflect.Float32, reflect.Float64:
		return obj{"type": []string{"number", "null"}}
	case reflect.Slice:
		return obj{"type": []string{"array", "null"}, "items": paramsSchema(t.Elem())}
	case reflect.Map:
		return obj{"type": []string{"object", "null"}, "additionalProperties": paramsSchema(t.Elem())}
	case reflect.Struct:
		fields := fieldsOf(t)
		props := obj{}
		for _, name := range fields.names {
			props[name] = paramsSchema(t.FieldByIndex(fields.byName[name]).Type)
		}
		return obj{"type": []string{"object", "null"}, "additionalProperties": false, "properties": props}
	}
	return obj{} // anything: the loader reports what it cannot take
}
