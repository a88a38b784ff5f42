class TaskFamily:
    @staticmethod
    def get_tasks():
        return {"1": {
            "question": ("A train leaves at 09:40 and the trip takes 2 hours 35 minutes. A connecting bus leaves "
                         "the arrival station every 20 minutes, on the hour and at :20 and :40. Counting only "
                         "buses that leave at or after the train arrives, when does the first one leave?"),
            "options": {"A": "12:00", "B": "12:15", "C": "12:20", "D": "12:40"},
            "answer": "C",
        }}

    @staticmethod
    def get_instructions(t):
        options = "\n".join(f"{key}) {value}" for key, value in t["options"].items())
        return f"{t['question']}\n{options}\nAnswer with the letter of the correct option only."

    @staticmethod
    def score(t, submission):
        return 1.0 if submission.strip().strip(".)").upper() == t["answer"] else 0.0
