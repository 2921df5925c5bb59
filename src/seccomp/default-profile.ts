/**
 * The seccomp profile every container gets unless `lxc.seccomp.profile`
 * names another: LXC's `common.seccomp` plus the syscalls a system container
 * has no use for and that reach the host kernel's shared state. Written in
 * LXC's own format so `lxc.seccomp.profile` users can start from it; each
 * line is explained in docs/security.md.
 */
export const DEFAULT_SECCOMP_PROFILE = `2
denylist
# LXC's common.seccomp
reject_force_umount
[all]
kexec_load errno 1
open_by_handle_at errno 1
init_module errno 1
finit_module errno 1
delete_module errno 1
# lxt: the host's kernel, not the container's
kexec_file_load errno 1
bpf errno 1
perf_event_open errno 1
userfaultfd errno 1
lookup_dcookie errno 1
quotactl errno 1
quotactl_fd errno 1
swapon errno 1
swapoff errno 1
# the kernel keyrings are not namespaced: ENOSYS reads as "no keyring support"
add_key errno 38
request_key errno 38
keyctl errno 38
`;

/** Shown as the file of default-profile rules in messages. */
export const DEFAULT_SECCOMP_NAME = "(lxt default seccomp profile)";
