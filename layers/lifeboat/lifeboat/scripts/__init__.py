"""Pre and post scripts around a rule's create calls (docs/concepts/consistency.md): the plans
shape (:mod:`.models`), the SSM port (:mod:`.ports`) and the backup machine's steps
(:mod:`.steps`)."""
