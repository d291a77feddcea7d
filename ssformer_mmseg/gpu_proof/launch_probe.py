"""A ``torchrun`` worker that only starts a process group and ends it, each
phase timed: what the distributed step runs before ``tools/dist_train.sh``,
so a launch that hangs or crawls is pinned to its phase (the launcher's
start, the host name lookup the launcher does, the communicator, the
shutdown) apart from training.

torchrun runs it by its path (it needs nothing but PyTorch)::

    python -m torch.distributed.run --nproc_per_node 1 launch_probe.py \\
        RECORD.json LAUNCHED

``LAUNCHED`` is the ``time.time()`` at which the launcher was started.
Each phase is written to ``RECORD.json`` as it ends, so a phase that never
ends is the one after the last recorded.
"""
import datetime
import faulthandler
import json
import os
import signal
import socket
import sys
import time


def main(record_file: str, launched: float) -> None:
    # engine.process_tree.dump_stacks_on_signal's effect, without importing
    # the package (its imports would blur the phases timed here).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    record = {}

    def write() -> None:
        with open(record_file + '.part', 'w') as f:
            json.dump(record, f, indent=1)
        os.replace(record_file + '.part', record_file)

    def phase(name: str, start: float) -> None:
        record[name] = round(time.time() - start, 2)
        write()
        print(f'[launch probe] {name} {record[name]} s', flush=True)

    phase('worker_started_s', launched)
    start = time.time()
    import torch
    import torch.distributed as dist
    phase('import_torch_s', start)
    start = time.time()
    socket.getfqdn()  # what torchrun's agent does for its events
    phase('host_name_lookup_s', start)
    cuda = torch.cuda.is_available()
    record['backend'] = 'nccl' if cuda else 'gloo'
    local_rank = int(os.environ.get('LOCAL_RANK', 0))
    device = torch.device('cuda', local_rank) if cuda else torch.device('cpu')
    if cuda:
        torch.cuda.set_device(device)
    start = time.time()
    dist.init_process_group(
        record['backend'], timeout=datetime.timedelta(seconds=30))
    phase('init_process_group_s', start)
    start = time.time()
    total = torch.ones(1, device=device)
    dist.all_reduce(total)
    if cuda:
        torch.cuda.synchronize()
    record['all_reduce_ok'] = total.item() == dist.get_world_size()
    phase('first_all_reduce_s', start)
    start = time.time()
    dist.barrier()
    phase('barrier_s', start)
    start = time.time()
    dist.destroy_process_group()
    phase('destroy_process_group_s', start)
    # The launcher's own exit is timed from here by the caller.
    record['ended_at'] = time.time()
    write()


if __name__ == '__main__':
    main(sys.argv[1], float(sys.argv[2]))
