from sandbox_eval_helper import get_function_name_to_callable


class TaskFamily:
    @staticmethod
    def get_tasks():
        return {"1": {
            "function_name": "run_length_encode",
            "cases": [["aaabcc", "a3b1c2"], ["", ""], ["zzzzzzzzzzzz", "z12"], ["abab", "a1b1a1b1"]],
        }}

    @staticmethod
    def get_instructions(t):
        return ("Write a Python function `run_length_encode(s: str) -> str` that replaces every maximal run "
                "of a repeated character by the character followed by the run length, e.g. 'aaabcc' -> "
                "'a3b1c2'. The empty string encodes to ''. Reply with the function in a ```python code block.")

    @staticmethod
    def score(t, submission):
        functions = get_function_name_to_callable(submission)
        function = functions.get(t["function_name"])
        if function is None:
            return 0.0
        return 1.0 if all(function(arg) == expected for arg, expected in t["cases"]) else 0.0
