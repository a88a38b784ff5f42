"""Procedural toy-world task (sort@6). Generated; self-contained."""

INSTANCES = {
    "1": {
        "prompt": "Sort: 3 8 0 1 0 8",
        "answer": "0 0 1 3 8 8"
    },
    "2": {
        "prompt": "Sort: 8 1 0 6 1 5",
        "answer": "0 1 1 5 6 8"
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
