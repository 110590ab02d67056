#!/usr/bin/env python3
"""Writes the seed corpora of the scheduler-side fuzz targets (job_spec, store_record, blob).

Run once from the repository root when the protos change: python3 tests/fuzz/make_scheduler_seeds.py
Messages are encoded by protoc from text format (protoc --encode), so the seeds are what
the real serializers produce; the store_record and blob seeds are laid out the way their
targets read input through libFuzzer's FuzzedDataProvider (strings from the front, each
ended by a backslash and one more byte; integers from the back).
"""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def encode(message, text):
    return subprocess.run(
        ["protoc", "-I", os.path.join(ROOT, "protos"), "-I", "/usr/include",
         f"--encode=kiln.v1.{message}", "kiln/v1/job.proto", "kiln/v1/store.proto",
         "kiln/v1/worker.proto", "kiln/v1/job_service.proto"],
        input=text.encode(), capture_output=True, check=True).stdout


def fdp_string(data):
    """A string as FuzzedDataProvider::ConsumeRandomLengthString reads it back."""
    return data.replace(b"\\", b"\\\\") + b"\\\n"


def write(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


MESH_SPEC = """
task: "mesh.extract"
parameters { fields { key: "resolution" value { number_value: 16 } }
             fields { key: "shape" value { struct_value {
               fields { key: "type" value { string_value: "sphere" } }
               fields { key: "radius" value { number_value: 1 } } } } } }
requirements { accelerator: ACCELERATOR_GPU min_compute_capability: 80 }
max_attempts: 3
labels { key: "team" value: "vision" }
"""

TIERED_SPEC = """
task: "debug.sleep"
model: "tetra@1"
parameters { fields { key: "seconds" value { number_value: 0.5 } } }
tiers { name: "sm_120" requirements { architectures: "sm_120" features: "bf16" } }
tiers { name: "cpu" requirements { accelerator: ACCELERATOR_CPU }
        parameters { fields { key: "seconds" value { number_value: 1 } } } }
inputs { name: "volume.npy" size_bytes: 64
         sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" }
timeout { seconds: 60 }
client_request_id: "req-1"
"""


def job_spec_seeds():
    write("job_spec", "mesh_extract.json",
          b'{"task":"mesh.extract","parameters":{"shape":{"type":"sphere","radius":1},'
          b'"resolution":16},"requirements":{"accelerator":"ACCELERATOR_GPU",'
          b'"minComputeCapability":80},"labels":{"team":"vision"}}')
    write("job_spec", "mesh_extract_volume.json",
          b'{"task":"mesh.extract","inputs":[{"name":"v.npy","sha256":'
          b'"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","sizeBytes":"64"}],'
          b'"parameters":{"volume":{"input":"v.npy","format":"npy","spacing":[1,1,2]},'
          b'"iso":0.5,"preview":{"frames":4,"size":64}}}')
    write("job_spec", "field_decode_tiers.json",
          b'{"task":"field.decode","model":"occ@2","parameters":{"resolution":32,'
          b'"bounds":{"min":[-1,-1,-1],"max":[1,1,1]},"dtype":"float16","output":"volume"},'
          b'"tiers":[{"name":"sm_90","requirements":{"architectures":["sm_90"]}},'
          b'{"name":"cpu","requirements":{"accelerator":"ACCELERATOR_CPU"},'
          b'"parameters":{"dtype":"float32"}}],"maxAttempts":2,"timeout":"600s"}')
    write("job_spec", "model_run.json",
          b'{"task":"model.run","model":"trellis@1","parameters":{"prompt":"a chair",'
          b'"steps":[1,2,{"x":null}]},"priority":-5}')
    write("job_spec", "scene_compose.json",
          b'{"task":"scene.compose","parameters":{"objects":[{"input":"a.glb",'
          b'"translation":[0,1,0],"scale":2}]}}')
    write("job_spec", "mesh_extract.bin", encode("JobSpec", MESH_SPEC))
    write("job_spec", "debug_sleep_tiers.bin", encode("JobSpec", TIERED_SPEC))


def store_record_seeds():
    families = {"default": 0, "jobs": 1, "queue": 2, "leases": 3, "workers": 4, "blobs": 5,
                "requests": 6}

    def records(*items):
        front, back = b"", b""
        for family, key, value in items:
            front += fdp_string(key) + fdp_string(value)
            back = bytes([families[family]]) + back  # integers come from the end
        return front + back

    queued = encode("Job", f"""id: "j-0000000000000001" state: JOB_STATE_QUEUED revision: 1
        spec {{ {MESH_SPEC} }} created_at {{ seconds: 1700000000 }}""")
    running = encode("Job", f"""id: "j-0000000000000002" state: JOB_STATE_RUNNING revision: 3
        spec {{ {TIERED_SPEC} }}
        attempts {{ number: 1 worker_id: "w1" slot: 0 device: "cuda:0" tier_index: 1 tier: "cpu"
                    assigned_at {{ seconds: 1700000001 }} started_at {{ seconds: 1700000002 }} }}""")
    done = encode("Job", """id: "j-0000000000000003" state: JOB_STATE_SUCCEEDED revision: 5
        spec { task: "debug.sleep" parameters { fields { key: "seconds" value { number_value: 0 } } } }
        attempts { number: 1 worker_id: "w1" exit_reason: EXIT_REASON_SUCCEEDED
                   log { name: "log" size_bytes: 3
                         sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" } }
        outputs { name: "mesh.ply" size_bytes: 10
                  sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" }""")
    lease = encode("StoredLease", 'job_id: "j-0000000000000002" attempt: 1 worker_id: "w1" slot: 0')
    worker = encode("WorkerInfo", """id: "w1" capabilities {
        devices { id: "cuda:0" name: "RTX 5090" compute_capability: 120 runnable: true
                  total_memory_bytes: 34359738368 features: "bf16" kernel_sass: "sm_120" }
        devices { id: "cpu" runnable: true }
        slots { index: 0 device_id: "cuda:0" tasks: "mesh.extract" tasks: "debug.sleep" }
        slots { index: 1 device_id: "cpu" tasks: "debug.sleep" models: "tetra@1" }
        models { name: "tetra" version: "1" runtime: "exec" } }
        job_ids: "j-0000000000000002" registered_at { seconds: 1700000000 }""")
    sha = b"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    blob = encode("StoredBlob", f'sha256: "{sha.decode()}" size_bytes: 3')

    write("store_record", "farm.bin", records(
        ("default", b"next_job_seq", b"4"),
        ("jobs", b"j-0000000000000001", queued), ("queue", b"j-0000000000000001", b""),
        ("jobs", b"j-0000000000000002", running), ("leases", b"j-0000000000000002", lease),
        ("jobs", b"j-0000000000000003", done), ("workers", b"w1", worker),
        ("blobs", sha, blob), ("requests", b"req-1", b"j-0000000000000002")))
    write("store_record", "queued_only.bin", records(
        ("default", b"next_job_seq", b"2"),
        ("jobs", b"j-0000000000000001", queued), ("queue", b"j-0000000000000001", b"")))
    write("store_record", "lease_and_worker.bin", records(
        ("jobs", b"j-0000000000000002", running), ("leases", b"j-0000000000000002", lease),
        ("workers", b"w1", worker)))
    write("store_record", "stale_index.bin", records(
        ("queue", b"j-0000000000000003", b""), ("jobs", b"j-0000000000000003", done),
        ("leases", b"j-0000000000000009", lease)))


def blob_seeds():
    def upload(size_mode, sha_mode, chunks, any_sha=b"", name=b"", any_size=0):
        front = fdp_string(any_sha) + fdp_string(name)
        for chunk in chunks:
            front += fdp_string(chunk)
        # Integers from the end, in the order the target asks: size mode, any size, sha mode.
        # An int64 is read most significant byte first, as an offset from INT64_MIN.
        raw = (any_size + 2**63) % 2**64
        back = bytes([sha_mode]) + raw.to_bytes(8, "little") + bytes([size_mode])
        return front + back

    sha = b"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    write("blob", "right_sha.bin", upload(0, 1, [b"solid cube\n", b"facet normal 0 0 1\n"]))
    write("blob", "no_sha.bin", upload(0, 0, [b"ply\nformat ascii 1.0\n"], name=sha))
    write("blob", "wrong_sha.bin", upload(0, 3, [b"abc", b"def"]))
    write("blob", "any_sha.bin", upload(0, 2, [b"test"], any_sha=sha))
    write("blob", "short.bin", upload(2, 0, [b"0123456789"] * 4, any_size=1))
    write("blob", "negative_size.bin", upload(1, 0, [b"x"], any_size=-5))
    write("blob", "empty.bin", upload(0, 1, []))


if __name__ == "__main__":
    job_spec_seeds()
    store_record_seeds()
    blob_seeds()
