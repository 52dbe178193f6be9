"""The neuron kinds, one module each: ``if_`` (IF), ``lif`` (LIF), ``cuba`` (CUBA LIF), ``plif`` (PLIF), ...

Each public module declares ``KIND = NeuronKind(...)`` (:mod:`spikeforge.neuron.kind_spec`): its named
parameters, its reference charge step, its node class and, optionally, its opt-in to the fused kernels.
:data:`~spikeforge.neuron.kind_spec.NEURON_KINDS` finds them by listing this package, so a new kind is one
new module here (``docs/contributing.md``, "A neuron kind"). Modules starting with ``_`` declare none.
"""
