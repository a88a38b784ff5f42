"""Procedural toy-world task (subtract@3). Generated; self-contained."""

INSTANCES = {
    "1": {
        "prompt": "Subtract: 801-8",
        "answer": "793"
    },
    "2": {
        "prompt": "Subtract: 589-6",
        "answer": "583"
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
