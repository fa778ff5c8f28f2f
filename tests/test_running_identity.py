"""running/identity.py: which config changes make another run."""
from experiment_utils import gen_experim
from scaling_laws.running.identity import identity_changes, identity_hash


def test_names_and_derivation_inputs_are_not_identity_but_numbers_are():
    base = gen_experim(16, max_tokens_training=4096, batch_size=8, gradient_accumulation_steps=4)[0]
    renamed = {**base, "label": "other", "folder_name": "elsewhere", "gpu_memory_gb": 40.0}
    assert identity_hash(renamed) == identity_hash(base) and identity_changes(base, renamed) == []
    faster = {**base, "learning_rate": 1e-2, "batch_seed": 3}
    assert identity_hash(faster) != identity_hash(base)
    assert identity_changes(base, faster) == ["batch_seed 0 -> 3", "learning_rate 0.001 -> 0.01"]


def test_a_field_an_older_run_did_not_record_counts_as_its_default():
    base = gen_experim(16, max_tokens_training=4096)[0]
    older = {k: v for k, v in base.items() if k != "grad_clip"}  # written before grad_clip existed
    assert identity_changes(older, base) == []
    assert identity_changes(older, {**base, "grad_clip": 0.5}) == ["grad_clip 1.0 -> 0.5"]
