"""Procedural toy-world task (add@3). Generated; self-contained."""

INSTANCES = {
    "1": {
        "prompt": "Add: 111+3",
        "answer": "114"
    },
    "2": {
        "prompt": "Add: 552+6",
        "answer": "558"
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
