"""Procedural toy-world task (reverse@7). Generated; self-contained."""

INSTANCES = {
    "1": {
        "prompt": "Reverse: ixhplod",
        "answer": "dolphxi"
    },
    "2": {
        "prompt": "Reverse: jtftemy",
        "answer": "ymetftj"
    }
}


def _normalise(text):
    return " ".join(str(text).split())


class TaskFamily:
    @staticmethod
    def get_tasks():
        return dict(INSTANCES)

    @staticmethod
    def get_instructions(t):
        return t["prompt"]

    @staticmethod
    def score(t, submission):
        return 1.0 if _normalise(submission) == _normalise(t["answer"]) else 0.0
