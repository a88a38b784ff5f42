"""The reference implementation's helper module name, so its tasks load unchanged."""

from acdc_sandbox import eval_with_llm_judge, get_function_name_to_callable  # noqa: F401
