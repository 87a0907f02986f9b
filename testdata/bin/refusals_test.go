package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The istioctl command tree per version (istioctl/cmd/root.go,
// operator/cmd/mesh/uninstall.go, istioctl/cmd/sysexits.go).
func TestIstioctlCommandForms(t *testing.T) {
	unknownUninstall := `^Error: unknown command "uninstall" for "istioctl"\n\nDid you mean this\?\n\tinstall\n\nRun 'istioctl --help' for usage.\n$`
	checkRefusals(t, []refusal{
		// 1.14: no top-level uninstall (exit 64, ExitIncorrectUsage).
		{tool: "istioctl", version: "1.14.6", args: []string{"uninstall", "--revision", "r", "-y"}, code: 64, stderr: unknownUninstall},
		// 1.15-1.19: uninstall's own --istioNamespace has no -i.
		{tool: "istioctl", version: "1.15.4", args: []string{"uninstall", "-i", "x", "--revision", "r", "-y"}, code: 1, stderr: `^Error: unknown shorthand flag: 'i' in -i\n$`},
		{tool: "istioctl", version: "1.19.3", args: []string{"uninstall", "-i", "x", "--revision", "r", "-y"}, code: 1, stderr: `unknown shorthand flag: 'i' in -i`},
		{tool: "istioctl", version: "1.14.6", args: []string{"x", "uninstall", "-i", "x", "--revision", "r", "-y"}, code: 1, stderr: `unknown shorthand flag: 'i' in -i`},
		// 1.19+: x has no uninstall; cobra stays on x and its flags
		// refuse --revision; without flags x prints its help and exits 0.
		{tool: "istioctl", version: "1.19.3", args: []string{"x", "uninstall", "--revision", "r", "-y"}, code: 1, stderr: `^Error: unknown flag: --revision\n$`},
		{tool: "istioctl", version: "1.20.0", args: []string{"x", "uninstall"}, code: 0, stderr: `^$`, stdout: `Experimental commands`},
		// Neither form without a revision, filename or --purge.
		{tool: "istioctl", version: "1.15.4", args: []string{"uninstall", "-y"}, code: 1, stderr: `at least one of the --revision`},
		// 1.5 has no install, only manifest apply.
		{tool: "istioctl", version: "1.5.10", args: []string{"install", "--set", "profile=default", "-y"}, code: 64, stderr: `unknown command "install" for "istioctl"`},
		{tool: "istioctl", version: "1.8.3", args: []string{"manifest", "apply", "-y"}, code: 1, stderr: `manifest apply`},
		// tag set needs --revision; install has no namespace flag of its
		// own, but the root's -i parses (and is ignored).
		{tool: "istioctl", version: "1.15.4", args: []string{"tag", "set", "default"}, code: 1, stderr: `required flag\(s\) "revision" not set`},
		{tool: "istioctl", version: "1.15.4", args: []string{"install", "--bogus"}, code: 1, stderr: `unknown flag: --bogus`},
		{tool: "istioctl", version: "1.15.4", args: []string{"nope"}, code: 64, stderr: `unknown command "nope" for "istioctl"`},
		// tag is top-level from 1.11.
		{tool: "istioctl", version: "1.9.1-asm.1", args: []string{"tag", "set", "default", "--revision", "r"}, code: 64, stderr: `unknown command "tag" for "istioctl"`},
	})
}

func TestInstallNamespace(t *testing.T) {
	v15, _ := parseVersion("1.15.4")
	v29, _ := parseVersion("1.29.0")
	spec := map[string]any{}
	setPath(spec, []string{"values", "global", "istioNamespace"}, "mesh")
	for _, c := range []struct {
		spec map[string]any
		v    semver
		want string
	}{
		{map[string]any{}, v15, "istio-system"},
		{spec, v15, "mesh"},
		{spec, v29, "mesh"},
		{map[string]any{"namespace": "ns"}, v15, "ns"},
		{map[string]any{"namespace": "ns"}, v29, "istio-system"}, // 1.24+ reads only values.global.istioNamespace
	} {
		if got := installNamespace(c.spec, c.v); got != c.want {
			t.Errorf("installNamespace(%v, %v) = %s, want %s", c.spec, c.v, got, c.want)
		}
	}
	// Names outside istio-system carry the namespace, as the charts do.
	c := &controlPlane{ns: "mesh", revision: "1-15-4", version: "1.15.4"}
	if c.injector() != "istio-sidecar-injector-1-15-4-mesh" || (&controlPlane{ns: "istio-system", revision: "1-15-4"}).injector() != "istio-sidecar-injector-1-15-4" {
		t.Errorf("injector names %s", c.injector())
	}
}

func TestGcloudMeshForms(t *testing.T) {
	t.Setenv("CLOUDSDK_CORE_PROJECT", "")
	checkRefusals(t, []refusal{
		{tool: "gcloud", args: []string{"container", "fleet", "mesh", "enable"}, code: 1, stderr: `^ERROR: \(gcloud\.container\.fleet\.mesh\.enable\) The required property \[project\] is not currently set\.\n$`},
		{tool: "gcloud", args: []string{"alpha", "container", "hub", "mesh", "enable"}, code: 1, stderr: `gcloud\.alpha\.container\.hub\.mesh\.enable\) The required property \[project\]`},
		{tool: "gcloud", args: []string{"container", "fleet", "mesh", "update", "--project=p", "--management", "automatic"}, code: 1, stderr: `argument --memberships: Must be specified`},
		{tool: "gcloud", args: []string{"container", "fleet", "mesh", "update", "--project=p"}, code: 1, stderr: `Exactly one of`},
		{tool: "gcloud", args: []string{"container", "fleet", "mesh", "update", "--project=p", "--management", "auto", "--memberships", "m"}, code: 2, stderr: `Invalid choice: 'auto'`},
		{tool: "gcloud", args: []string{"container", "fleet", "mesh", "update", "--project=p", "--management", "automatic", "--memberships", "m"}, code: 0, stderr: `updated`},
		{tool: "gcloud", args: []string{"container", "fleets", "mesh", "enable", "--project=p"}, code: 2, stderr: `Invalid choice`},
		{tool: "gcloud", args: []string{"container", "fleet", "mesh", "enable", "--project=p", "--bogus"}, code: 2, stderr: `unknown flag: --bogus`},
	})
}

func TestScriptRefusals(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkRefusals(t, []refusal{
		{tool: "asmcli", version: "1.14.0-asm.0", args: []string{"install", "--kubeconfig", kc, "--bogus"}, code: 2, stderr: `^asmcli: \[ERROR\]: Unknown option --bogus`},
		{tool: "asmcli", version: "1.14.0-asm.0", args: []string{"install", "--kubeconfig", kc, "--platform", "multicloud"}, code: 2, stderr: `--fleet_id is required`},
		{tool: "asmcli", version: "1.14.0-asm.0", args: []string{"install", "--kubeconfig", filepath.Join(dir, "nope")}, code: 2, stderr: `Couldn't find file`},
		{tool: "asmcli", version: "1.14.0-asm.0", args: []string{"install", "--kubeconfig", kc, "--ca", "vault"}, code: 2, stderr: `CA must be one of`},
		// parse_args: whole words only, and arg_required after each option with a value.
		{tool: "asmcli", version: "1.14.0-asm.0", args: []string{"install", "--kubeconfig=" + kc}, code: 2, stderr: `^asmcli: \[ERROR\]: Unknown option --kubeconfig=`},
		{tool: "asmcli", version: "1.14.0-asm.0", args: []string{"install", "-p" + "proj"}, code: 2, stderr: `Unknown option -pproj`},
		{tool: "asmcli", version: "1.14.0-asm.0", args: []string{"install", "--kubeconfig", kc, "--trust_fleet_identity"}, code: 2, stderr: `Unknown option --trust_fleet_identity`},
		{tool: "asmcli", version: "1.14.0-asm.0", args: []string{"install", "--kubeconfig", kc, "--context"}, code: 2, stderr: `^asmcli: \[ERROR\]: Option --context requires an argument\.`},
		{tool: "asmcli", version: "1.14.0-asm.0", args: []string{"install", "--kubeconfig", kc, "--context", "", "--platform", "gcp"}, code: 2, stderr: `Option --context requires an argument\.`},
		{tool: "asmcli", version: "1.14.0-asm.0", args: []string{"install", "--kc", kc, "--ctx", "--platform", "gcp"}, code: 2, stderr: `Option --ctx requires an argument\.`},
		{tool: "asmcli", version: "1.14.0-asm.0", args: []string{"validate", "--kc", kc, "--ctx", "c1", "--platform", "multicloud", "--fleet_id", "f", "--co", kc}, code: 0, stderr: `Successfully validated`},
		{tool: "asmcli", version: "1.14.0-asm.0", args: []string{"validate", "--kubeconfig", kc, "--context", "c1", "--platform", "multicloud", "--fleet-id", "f", "-c", "mesh_ca"}, code: 0, stderr: `Successfully validated`},
		{tool: "install_asm", version: "1.11.2-asm.17", args: []string{"--mode", "install", "-p", "p", "-l", "l"}, code: 2, stderr: `Missing value for --cluster_name`},
		{tool: "install_asm", version: "1.11.2-asm.17", args: []string{"--mode", "uninstall", "-p", "p", "-l", "l", "-n", "c"}, code: 2, stderr: `Mode must be one of`},
	})
}
