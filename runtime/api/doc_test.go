package api

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tenement/ten/runtime/logs"
	"github.com/tenement/ten/runtime/supervisor"
)

// docPath is the API reference this file holds to the code.
const docPath = "../../docs/api.md"

func readDoc(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("the API reference: %v", err)
	}
	return string(data)
}

// registeredRoutes returns the "METHOD /path" patterns New registers, read
// from the source so that a new route cannot be added without this test
// seeing it.
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "api.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		pattern, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(pattern, " ") { // catch-alls have no method
			routes = append(routes, pattern)
		}
		return true
	})
	if len(routes) < 10 {
		t.Fatalf("found only %d routes in api.go: %v", len(routes), routes)
	}
	slices.Sort(routes)
	return routes
}

// TestReferenceDocumentsEveryRoute: each route has a "### `METHOD /path`"
// section in docs/api.md, and each such section is a route.
func TestReferenceDocumentsEveryRoute(t *testing.T) {
	doc := readDoc(t)
	routes := registeredRoutes(t)
	heading := regexp.MustCompile("(?m)^### `([A-Z]+ /[^`]*)`$")
	var documented []string
	for _, m := range heading.FindAllStringSubmatch(doc, -1) {
		documented = append(documented, m[1])
	}
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("%s has no section \"### `%s`\"", docPath, r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("%s documents %s, which the API does not serve", docPath, d)
		}
	}
	for _, s := range allStates {
		if !strings.Contains(doc, "`"+string(s)+"`") {
			t.Errorf("%s does not name the instance state %q", docPath, s)
		}
	}
}

// jsonFields returns the JSON names of a struct's fields: those always
// sent, and those that may be left out (omitempty).
func jsonFields(v any) (required, optional []string) {
	rt := reflect.TypeOf(v)
	for i := 0; i < rt.NumField(); i++ {
		name, opts, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if strings.Contains(opts, "omitempty") {
			optional = append(optional, name)
		} else {
			required = append(required, name)
		}
	}
	return required, optional
}

// jsonObjects returns every object in the doc's ```json blocks, nested
// ones and array elements included. A block that is not JSON fails.
func jsonObjects(t *testing.T, doc string) []map[string]any {
	t.Helper()
	block := regexp.MustCompile("(?s)```json\n(.*?)```")
	var out []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			out = append(out, v)
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	for _, m := range block.FindAllStringSubmatch(doc, -1) {
		var v any
		if err := json.Unmarshal([]byte(m[1]), &v); err != nil {
			t.Errorf("%s: a json block does not parse (%v):\n%s", docPath, err, m[1])
			continue
		}
		walk(v)
	}
	return out
}

// TestReferenceShowsEveryJSONShape: every request and response body of the
// API appears in docs/api.md as an example with exactly its fields.
func TestReferenceShowsEveryJSONShape(t *testing.T) {
	objs := jsonObjects(t, readDoc(t))
	for name, v := range map[string]any{
		"Error": Error{}, "Instance": Instance{}, "SpawnRequest": SpawnRequest{}, "SpawnResponse": SpawnResponse{},
		"WeightRequest": WeightRequest{}, "WeightResponse": WeightResponse{}, "HealthResponse": HealthResponse{},
		"DeployRequest": DeployRequest{}, "DeployResponse": DeployResponse{}, "RouteRequest": RouteRequest{},
		"RouteResponse": RouteResponse{}, "Health": Health{}, "LogEntry": LogEntry{},
		"logs.Span":              logs.Span{},
		"supervisor.StorageInfo": supervisor.StorageInfo{},
	} {
		required, optional := jsonFields(v)
		found := false
		for _, o := range objs {
			ok := true
			for _, k := range required {
				_, has := o[k]
				ok = ok && has
			}
			for k := range o {
				ok = ok && (slices.Contains(required, k) || slices.Contains(optional, k))
			}
			found = found || ok
		}
		if !found {
			t.Errorf("%s has no JSON example of %s with exactly the fields %v (optional %v)", docPath, name, required, optional)
		}
	}
}
