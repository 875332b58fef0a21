// k8s-validate checks Kubernetes manifests strictly against the real API types, without a
// cluster: every YAML document is decoded into its k8s.io/api type by apiVersion and kind, and
// an unknown, misspelt or repeated field, or a value of the wrong type, is an error naming the
// file, the document and the field path. Checks specific to orysim's manifests follow (see
// checks.go).
//
//	k8s-validate FILE_OR_DIR...
//
// Directories contribute their *.yaml and *.yml files (not recursively). All files are checked
// as one set, so that references between them (ConfigMaps, volume claims) can be resolved.
// Prints one line per problem; exit status 1 when there is any, 2 on bad usage.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// doc is one decoded YAML document.
type doc struct {
	file  string
	index int // 1-based position in its file
	kind  string
	name  string
	obj   any
}

func (d doc) String() string {
	return fmt.Sprintf("%s: document %d (%s %s)", d.file, d.index, d.kind, d.name)
}

// The kinds orysim's manifests use, by apiVersion and kind.
var kinds = map[string]func() any{
	"batch/v1 Job":             func() any { return &batchv1.Job{} },
	"batch/v1 CronJob":         func() any { return &batchv1.CronJob{} },
	"v1 ConfigMap":             func() any { return &corev1.ConfigMap{} },
	"v1 Secret":                func() any { return &corev1.Secret{} },
	"v1 PersistentVolumeClaim": func() any { return &corev1.PersistentVolumeClaim{} },
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: k8s-validate FILE_OR_DIR...")
		os.Exit(2)
	}
	files, err := manifestFiles(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s-validate:", err)
		os.Exit(2)
	}
	var docs []doc
	var problems []string
	for _, f := range files {
		d, p := decodeFile(f)
		docs = append(docs, d...)
		problems = append(problems, p...)
	}
	problems = append(problems, check(docs)...)
	for _, p := range problems {
		// One line per problem, whatever the decoder's message looked like.
		fmt.Println(strings.Join(strings.Fields(p), " "))
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "k8s-validate: %d problem(s) in %d file(s)\n", len(problems), len(files))
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "k8s-validate: %d document(s) in %d file(s) OK\n", len(docs), len(files))
}

func manifestFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		info, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, a)
			continue
		}
		var found []string
		for _, pattern := range []string{"*.yaml", "*.yml"} {
			m, _ := filepath.Glob(filepath.Join(a, pattern))
			found = append(found, m...)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no *.yaml or *.yml files", a)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}

// decodeFile splits a file into its YAML documents and decodes each strictly.
func decodeFile(file string) ([]doc, []string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, []string{err.Error()}
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var docs []doc
	var problems []string
	for index := 1; ; index++ {
		part, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: document %d: %v", file, index, err))
			break
		}
		if isBlank(part) {
			index--
			continue
		}
		d, errs := decode(file, index, part)
		problems = append(problems, errs...)
		if d != nil {
			docs = append(docs, *d)
		}
	}
	if len(docs) == 0 && len(problems) == 0 {
		problems = append(problems, file+": no manifests")
	}
	return docs, problems
}

func isBlank(part []byte) bool {
	for _, line := range strings.Split(string(part), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && t != "---" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

// decode converts one YAML document to JSON (repeated keys are an error) and unmarshals it
// into the API type its apiVersion and kind name, rejecting fields the type does not have.
func decode(file string, index int, part []byte) (*doc, []string) {
	where := fmt.Sprintf("%s: document %d", file, index)
	js, err := yaml.YAMLToJSONStrict(part)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: %v", where, err)}
	}
	var meta struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &meta); err != nil {
		return nil, []string{fmt.Sprintf("%s: %v", where, err)}
	}
	key := meta.APIVersion + " " + meta.Kind
	newObj := kinds[key]
	if newObj == nil {
		return nil, []string{fmt.Sprintf("%s: unsupported apiVersion/kind %q (the checker knows %s)",
			where, meta.APIVersion+"/"+meta.Kind, known())}
	}
	where = fmt.Sprintf("%s (%s %s)", where, meta.Kind, meta.Metadata.Name)
	obj := newObj()
	strict, err := sigsjson.UnmarshalStrict(js, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	var problems []string
	if err != nil {
		problems = append(problems, fmt.Sprintf("%s: %v", where, err))
	}
	for _, e := range strict {
		problems = append(problems, fmt.Sprintf("%s: %v", where, e))
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return &doc{file: file, index: index, kind: meta.Kind, name: meta.Metadata.Name, obj: obj}, nil
}

func known() string {
	var k []string
	for key := range kinds {
		k = append(k, strings.Replace(key, " ", "/", 1))
	}
	sort.Strings(k)
	return strings.Join(k, ", ")
}
