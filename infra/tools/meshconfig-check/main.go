// meshconfig-check validates the `meshConfig` of a Helm values / IstioOperator fragment against
// Istio's own MeshConfig protobuf (istio.io/api): unknown fields, wrong types and bad durations fail,
// exactly as istiod would reject them. Usage: meshconfig-check FILE...
package main

import (
	"fmt"
	"os"

	"google.golang.org/protobuf/encoding/protojson"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"sigs.k8s.io/yaml"
)

func check(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("not YAML: %w", err)
	}
	mc, ok := doc["meshConfig"]
	if !ok {
		return fmt.Errorf("no top-level meshConfig key")
	}
	js, err := yaml.Marshal(mc)
	if err != nil {
		return err
	}
	js, err = yaml.YAMLToJSON(js)
	if err != nil {
		return err
	}
	var m meshv1alpha1.MeshConfig
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, &m); err != nil {
		return fmt.Errorf("meshConfig: %w", err)
	}
	if len(m.GetExtensionProviders()) == 0 {
		return fmt.Errorf("meshConfig: no extensionProviders")
	}
	for _, p := range m.GetExtensionProviders() {
		if p.GetName() == "" {
			return fmt.Errorf("meshConfig: an extension provider has no name")
		}
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: meshconfig-check FILE...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		if err := check(path); err != nil {
			fmt.Fprintf(os.Stderr, "%s: INVALID: %v\n", path, err)
			failed = true
			continue
		}
		fmt.Printf("%s: valid MeshConfig\n", path)
	}
	if failed {
		os.Exit(1)
	}
}
