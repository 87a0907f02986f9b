#!/usr/bin/env bash
# Installs the fakebins test doubles (istioctl, asmcli, install_asm, bmctl,
# gcloud, systemctl) into DIR and prints DIR's absolute path as the last line.
#
# usage:
#   install.sh DIR                         build DIR/fakebins and the tool links:
#                                          DIR/{istioctl,bmctl,gcloud,install_asm,systemctl}
#                                          -> fakebins, and DIR/asmcli (a wrapper script
#                                          pinned to ASM 1.14.0-asm.1)
#   install.sh DIR istio VERSION           + DIR/istio-VERSION/bin/istioctl (the release
#                                          tarball's layout) with a fake-version file
#   install.sh DIR asmcli RELEASE [NAME]   + DIR/NAME, an asmcli script whose MAJOR= MINOR=
#                                          POINT= REV= lines pin RELEASE (M.m.p-asm.R);
#                                          NAME defaults to asmcli_MMP-R (e.g. asmcli_1140-1)
#   install.sh DIR bmctl VERSION [NAME]    + DIR/NAME (default bmctl-VERSION) with
#                                          DIR/NAME.fake-version
#
# The base install runs first whenever DIR/fakebins is missing, so any form
# works on an empty DIR. Set FAKEBINS_REBUILD=1 to rebuild an existing binary.
set -euo pipefail

die() {
	echo "install.sh: $*" >&2
	exit 2
}

[[ $# -ge 1 ]] || die "usage: install.sh DIR [istio VERSION | asmcli RELEASE [NAME] | bmctl VERSION [NAME]]"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)
shift

# asmcli_script PATH RELEASE: writes the wrapper. Like the real asmcli, it
# hard-codes the release in these four lines (a playbook greps them); bash
# evaluates them and hands the result to the binary.
asmcli_script() {
	local path=$1 release=$2 core rev major minor point
	[[ $release =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)-asm\.([0-9]+)$ ]] || die "asmcli release must look like 1.14.0-asm.1, got '$release'"
	major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]} point=${BASH_REMATCH[3]} rev=${BASH_REMATCH[4]}
	cat >"$path" <<EOF
#!/usr/bin/env bash
# asmcli test double from cairn's testdata/bin; not Google's asmcli.
# Like the real script, it installs the ASM release hard-coded below.
MAJOR="\${MAJOR:=$major}"; readonly MAJOR;
MINOR="\${MINOR:=$minor}"; readonly MINOR;
POINT="\${POINT:=$point}"; readonly POINT;
REV="\${REV:=$rev}"; readonly REV;
export FAKEBINS_TOOL=asmcli FAKEBINS_SCRIPT="\${BASH_SOURCE[0]}"
export FAKEBINS_ASM_RELEASE="\${MAJOR}.\${MINOR}.\${POINT}-asm.\${REV}"
exec "$dir/fakebins" "\$@"
EOF
	chmod +x "$path"
}

if [[ ! -x $dir/fakebins || ${FAKEBINS_REBUILD:-} == 1 ]]; then
	(cd "$root" && go build -o "$dir/fakebins" ./testdata/bin)
	for t in istioctl bmctl gcloud install_asm systemctl; do
		ln -sfn fakebins "$dir/$t"
	done
	asmcli_script "$dir/asmcli" 1.14.0-asm.1
fi

case ${1:-} in
"") ;;
istio)
	[[ $# -eq 2 ]] || die "usage: install.sh DIR istio VERSION"
	mkdir -p "$dir/istio-$2/bin"
	ln -sfn "$dir/fakebins" "$dir/istio-$2/bin/istioctl"
	echo "$2" >"$dir/istio-$2/bin/fake-version"
	;;
asmcli)
	[[ $# -ge 2 && $# -le 3 ]] || die "usage: install.sh DIR asmcli RELEASE [NAME]"
	name=${3:-}
	if [[ -z $name ]]; then
		core=${2%%-asm.*}
		name="asmcli_${core//./}-${2##*-asm.}"
	fi
	asmcli_script "$dir/$name" "$2"
	;;
bmctl)
	[[ $# -ge 2 && $# -le 3 ]] || die "usage: install.sh DIR bmctl VERSION [NAME]"
	name=${3:-bmctl-$2}
	ln -sfn fakebins "$dir/$name"
	echo "$2" >"$dir/$name.fake-version"
	;;
*) die "unknown layout '$1' (istio, asmcli or bmctl)" ;;
esac
echo "$dir"
